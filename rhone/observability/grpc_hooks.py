"""gRPC observability: per-RPC metrics and the call's scope on the server (its method
handlers wrapped as they are registered, see ObservedServer), the ids and the trace context
on the client (a channel wrapper, see PropagatingChannel). The guards of
rhone/runtime/interceptors.py are wrapped around the observed handlers the same way.

Server: each RPC (health and reflection aside) gets a CallScope from the caller's metadata,
counts in rhone_grpc_server_* and, with tracing on, a SERVER span whose parent is the
caller's traceparent. Client: each outgoing RPC carries the service token, the scope's ids
and, with tracing on, the current span's traceparent."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from opentelemetry.trace import SpanKind, Status, StatusCode

from rhone.observability import metrics, scope, tracing
from rhone.runtime.handler_guards import Guard, guard_handler
from rhone.runtime.lane_client import OPEN_METHOD, LaneMethod, LanePolicy, Lanes
from rhone.runtime.lane_server import LaneServer

# The package whose unary and server-streaming methods go on lanes: Rhone's own services.
_LANED_PACKAGE = "/rhone.v1."


class _Bound:
    """One method's label children and span name, bound once."""

    __slots__ = ("duration", "inflight", "method", "rpc_service", "service", "span_name")

    def __init__(self, service: str, full_method: str) -> None:
        rpc_service, _, method = full_method.lstrip("/").rpartition("/")
        self.service = service
        self.rpc_service = rpc_service
        self.method = method
        self.span_name = f"{rpc_service}/{method}"
        self.inflight = metrics.GRPC_INFLIGHT.labels(service, method)
        self.duration = metrics.GRPC_DURATION.labels(service, method)

    def done(self, started: float, code: str) -> None:
        self.inflight.dec()
        self.duration.observe(time.perf_counter() - started)
        metrics.GRPC_HANDLED.labels(self.service, self.method, code).inc()


# gRPC status code names and numbers (rpc.grpc.status_code is the number).
_CODE_NUMBERS = {status.name: status.value[0] for status in grpc.StatusCode}


def _code_of(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "UNKNOWN"
    if isinstance(code, grpc.StatusCode):
        return code.name
    for name, number in _CODE_NUMBERS.items():
        if number == code:
            return name
    return "UNKNOWN"


class _Rpc:
    """The bookkeeping of one RPC on the server."""

    __slots__ = ("bound", "code", "span", "started")

    def __init__(self, bound: _Bound, metadata: Any) -> None:
        self.bound = bound
        self.started = time.perf_counter()
        self.code = "OK"
        call_scope = scope.from_metadata(metadata)
        scope.enter(call_scope)
        bound.inflight.inc()
        # A span only for an RPC of a call (it carries the call's request id): an RPC outside
        # any call (the facade's poll of the keys' version, four a second) would be a trace of
        # its own, and nobody's.
        self.span = (
            tracing.start_span(
                bound.span_name,
                SpanKind.SERVER,
                tracing.remote_parent(call_scope.traceparent, call_scope.tracestate),
                {
                    "rpc.system": "grpc",
                    "rpc.service": bound.rpc_service,
                    "rpc.method": bound.method,
                    "rhone.request_id": call_scope.request_id,
                },
            )
            if tracing.enabled() and call_scope.request_id
            else None
        )
        call_scope.span = self.span

    def failed(self, exc: BaseException, context: grpc.aio.ServicerContext) -> None:
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self.code = "CANCELLED"
        elif isinstance(exc, grpc.aio.AbortError):
            self.code = _code_of(context)
        else:
            self.code = "UNKNOWN"

    def finish(self) -> None:
        self.bound.done(self.started, self.code)
        if self.span is not None:
            self.span.set_attribute("rpc.grpc.status_code", _CODE_NUMBERS[self.code])
            if self.code not in ("OK", "CANCELLED"):
                self.span.set_status(Status(StatusCode.ERROR, self.code))
            self.span.end()
        # Nothing to restore: each RPC runs in a task of its own, whose context ends with it
        # (and a stream closed by the server from outside that task could not restore it).


class BatchedCalls:
    """The calls that came batched in one RPC (CommitTurns), each counted, scoped and traced
    as the RPC it stands for (CommitTurn): its own rhone_grpc_server_* counts, its call's
    scope (logs keep its request id) and a SERVER span whose parent is its call's
    traceparent, carried in the batch instead of the metadata. The batch RPC itself is
    observed like any other. Run each call in a task of its own (asyncio.gather), so that
    its scope is its own."""

    def __init__(self, service: str, full_method: str) -> None:
        self.bound = _Bound(service, full_method)

    def begin(self, call_metadata: Mapping[str, str]) -> BatchedCall:
        return BatchedCall(self.bound, tuple(call_metadata.items()))


class BatchedCall(_Rpc):
    """One batched call's bookkeeping: `finish(code)` with the gRPC status code's name its
    own RPC would have ended with."""

    __slots__ = ()

    def finish_with(self, code: str) -> None:
        self.code = code
        self.finish()


class HandlerObserver:
    """Wraps a service's method handlers (metrics, the call's scope, a SERVER span), each
    once, when they are registered; health and reflection are left alone. `guards`
    (rhone/runtime/handler_guards.py) go around that, so a call they refuse is not one the
    service handled."""

    def __init__(self, service: str, guards: Sequence[Guard] = ()) -> None:
        self.service = service
        self.guards = guards
        self._wrapped: dict[tuple[str, int], grpc.RpcMethodHandler] = {}

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        key = (method, id(handler))
        wrapped = self._wrapped.get(key)
        if wrapped is None:
            wrapped = self._wrapped[key] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The handler inside the guards, and, innermost, observed: a unary method, or one
        that streams from an async generator (one that writes with context.write() is not)."""
        observed = not method.startswith("/grpc.") and (
            handler.unary_unary is not None
            or (
                handler.unary_stream is not None
                and not inspect.iscoroutinefunction(handler.unary_stream)
            )
        )
        guards = (
            [*self.guards, _Observed(_Bound(self.service, method))] if observed else self.guards
        )
        return guard_handler(method, handler, guards)


class _Observed:
    """Observability as the innermost guard of a handler (rhone/runtime/handler_guards.py):
    each call gets its _Rpc when it starts and ends it with the call's outcome."""

    __slots__ = ("bound",)

    def __init__(self, bound: _Bound) -> None:
        self.bound = bound

    def applies(self, method: str) -> bool:
        return True

    async def enter(self, context: grpc.aio.ServicerContext, method: str) -> _Rpc:
        return _Rpc(self.bound, context.invocation_metadata())

    def leave(
        self, entered: object, context: grpc.aio.ServicerContext, exc: BaseException | None
    ) -> None:
        assert isinstance(entered, _Rpc)
        if exc is not None:
            entered.failed(exc, context)
        entered.finish()


class _ObservedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, observer: HandlerObserver) -> None:
        self.inner = inner
        self.observer = observer

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = self.inner.service(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        return self.observer.wrap(method.decode() if isinstance(method, bytes) else method, handler)


class ObservedServer:
    """The server as a service's `register` sees it: every method handler registered through
    it is wrapped by a HandlerObserver, inside `guards`.

    A wrapper at registration, not a server interceptor: grpc.aio runs every RPC of a server
    with interceptors through its interceptor chain, which measured at about a tenth of the
    CPU of a whole call (four RPCs) for observability, and about 8% for the service token and
    the call limit (rhone/runtime/handler_guards.py); a wrapped handler costs a few
    counters."""

    def __init__(
        self,
        server: grpc.aio.Server,
        service: str,
        guards: Sequence[Guard] = (),
        lanes: LaneServer | None = None,
    ) -> None:
        self._server = server
        self._observer = HandlerObserver(service, guards)
        self._lanes = lanes

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_ObservedGenericHandler(h, self._observer) for h in handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        wrapped = {
            name: self._observer.wrap(f"/{service_name}/{name}", handler)
            for name, handler in method_handlers.items()
        }
        self._server.add_registered_method_handlers(  # type: ignore[attr-defined]
            service_name, wrapped
        )
        if self._lanes is not None:  # the same handlers, guarded and observed, on lanes
            for name, handler in wrapped.items():
                self._lanes.add(f"/{service_name}/{name}", handler)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class _PropagatingCall:
    """A channel's multicallable that adds the channel's own metadata (the service token) and
    the call's ids and trace context to each call, and its method's default deadline to a
    call that names none."""

    __slots__ = ("fixed", "inner", "timeout")

    def __init__(
        self, inner: Any, fixed: tuple[tuple[str, str], ...], timeout: float | None = None
    ) -> None:
        self.inner = inner
        self.fixed = fixed
        self.timeout = timeout

    def __call__(self, request: Any, *, metadata: Any = None, **options: Any) -> Any:
        if self.timeout is not None and options.get("timeout") is None:
            options["timeout"] = self.timeout
        # `request` is a request iterator for a client-streaming method.
        call_scope = scope.current_or_none()
        extra = call_scope.outgoing_metadata() if call_scope is not None else ()
        if metadata or extra:
            metadata = (*(metadata or ()), *self.fixed, *extra)
        else:
            metadata = self.fixed or None
        return self.inner(request, metadata=metadata, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PropagatingChannel:
    """Wraps a channel so that every call carries `metadata` (the service token), the
    caller's ids and, with tracing on, the current span's traceparent (a peer's SERVER span
    is a child of the span current here: no CLIENT span per hop, which would double the spans
    of a call for the little time a local hop takes). With `lanes`, the unary and
    server-streaming calls of Rhone's own services go on lanes (rhone/runtime/lane_client.py).

    A wrapper, not a client interceptor: grpc.aio runs an intercepted call through an extra
    task and re-yields every streamed message through Python generators (tens of
    microseconds per message, on every chunk of every stream); this costs one function call
    per RPC."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: tuple[tuple[str, str], ...] = (),
        lanes: Lanes | None = None,
        policy_of: Callable[[str], LanePolicy] | None = None,
    ):
        self._channel = channel
        self._metadata = metadata
        self._lanes = lanes
        self._policy_of = policy_of

    def _call(self, method: str, inner: Any) -> _PropagatingCall:
        timeout = self._policy_of(method).timeout_s if self._policy_of is not None else None
        return _PropagatingCall(inner, self._metadata, timeout)

    def _laned(self, method: str, plain: Any, kwargs: dict[str, Any]) -> Any:
        if self._lanes is None or not method.startswith(_LANED_PACKAGE) or method == OPEN_METHOD:
            return plain
        return LaneMethod(
            self._lanes,
            method,
            plain,
            request_serializer=kwargs.get("request_serializer"),
            response_deserializer=kwargs.get("response_deserializer"),
        )

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        plain = self._channel.unary_unary(method, *args, **kwargs)
        return self._call(method, self._laned(method, plain, kwargs))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        plain = self._channel.unary_stream(method, *args, **kwargs)
        return self._call(method, self._laned(method, plain, kwargs))

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(method, self._channel.stream_unary(method, *args, **kwargs))

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(method, self._channel.stream_stream(method, *args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    async def __aenter__(self) -> PropagatingChannel:
        await self._channel.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._channel.__aexit__(*exc)
