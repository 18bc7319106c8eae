"""gRPC observability: per-RPC metrics and the call's scope on the server (an interceptor,
registered in rhone/runtime/interceptors.py with the others), the ids and the trace context
on the client (a channel wrapper, see PropagatingChannel).

Server: each RPC (health and reflection aside) gets a CallScope from the caller's metadata,
counts in rhone_grpc_server_* and, with tracing on, a SERVER span whose parent is the
caller's traceparent. Client: each outgoing RPC carries the scope's ids and, with tracing on,
a CLIENT span's traceparent."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from rhone.observability import metrics, scope, tracing

TRACEPARENT = "traceparent"


class _Bound:
    """One method's label children, bound once."""

    __slots__ = ("duration", "inflight", "method", "rpc_service", "service")

    def __init__(self, service: str, full_method: str) -> None:
        rpc_service, _, method = full_method.lstrip("/").rpartition("/")
        self.service = service
        self.rpc_service = rpc_service
        self.method = method
        self.inflight = metrics.GRPC_INFLIGHT.labels(service, method)
        self.duration = metrics.GRPC_DURATION.labels(service, method)

    def done(self, started: float, code: str) -> None:
        self.inflight.dec()
        self.duration.observe(time.perf_counter() - started)
        metrics.GRPC_HANDLED.labels(self.service, self.method, code).inc()


def _code_of(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if code is None:
        return "UNKNOWN"
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
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
        self.span: trace.Span | None = None
        bound.inflight.inc()
        if tracing.enabled():
            carrier = {k: v for k, v in metadata or () if isinstance(v, str)}
            parent = propagate.extract(carrier)
            self.span = tracing.tracer().start_span(
                f"{bound.rpc_service}/{bound.method}",
                context=parent,
                kind=SpanKind.SERVER,
                attributes={
                    "rpc.system": "grpc",
                    "rpc.service": bound.rpc_service,
                    "rpc.method": bound.method,
                    "rhone.request_id": call_scope.request_id,
                },
            )
            otel_context.attach(trace.set_span_in_context(self.span))

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
            self.span.set_attribute("rpc.grpc.status_code", grpc.StatusCode[self.code].value[0])
            if self.code not in ("OK", "CANCELLED"):
                self.span.set_status(Status(StatusCode.ERROR, self.code))
            self.span.end()
        # Nothing to restore: each RPC runs in a task of its own, whose context ends with it
        # (and a stream closed by the server from outside that task could not restore it).


class ServerObserver(grpc.aio.ServerInterceptor):
    def __init__(self, service: str) -> None:
        self.service = service
        # The wrapped handler of each method, made on its first call: per RPC, one dict lookup.
        self._handlers: dict[tuple[str, int], grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        key = (handler_call_details.method, id(handler))
        wrapped = self._handlers.get(key)
        if wrapped is None:
            wrapped = self._handlers[key] = self._wrap(handler_call_details.method, handler)
        return wrapped

    def _wrap(self, method: str | bytes, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if isinstance(method, bytes):
            method = method.decode()
        if method.startswith("/grpc."):  # health and reflection
            return handler
        bound = _Bound(self.service, method)
        if handler.unary_unary is not None:
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                unary_unary=_unary(handler.unary_unary, bound)
            )
        if handler.unary_stream is not None and not inspect.iscoroutinefunction(
            handler.unary_stream
        ):
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                unary_stream=_unary_stream(handler.unary_stream, bound)
            )
        return handler


def _unary(inner: Callable[..., Any], bound: _Bound) -> Callable[..., Any]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        rpc = _Rpc(bound, context.invocation_metadata())
        try:
            return await inner(request, context)
        except BaseException as exc:
            rpc.failed(exc, context)
            raise
        finally:
            rpc.finish()

    return behavior


def _unary_stream(inner: Callable[..., Any], bound: _Bound) -> Callable[..., Any]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        rpc = _Rpc(bound, context.invocation_metadata())
        try:
            async for message in inner(request, context):
                yield message
        except BaseException as exc:
            rpc.failed(exc, context)
            raise
        finally:
            rpc.finish()

    return behavior


def _outgoing(method: str) -> tuple[list[tuple[str, str]], trace.Span | None]:
    """The metadata an outgoing call adds, and its CLIENT span when tracing."""
    call_scope = scope.current_or_none()
    extra = call_scope.outgoing_metadata() if call_scope is not None else []
    if not tracing.enabled():
        if call_scope is not None and call_scope.traceparent:
            # Not tracing here: the client's own trace id still reaches every service's logs.
            extra.append((TRACEPARENT, call_scope.traceparent))
        return extra, None
    name = method.lstrip("/")
    rpc_service, _, rpc_method = name.rpartition("/")
    span = tracing.tracer().start_span(
        name,
        kind=SpanKind.CLIENT,
        attributes={"rpc.system": "grpc", "rpc.service": rpc_service, "rpc.method": rpc_method},
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    extra.extend(carrier.items())
    return extra, span


class _PropagatingCall:
    """A channel's multicallable that adds the call's ids (and trace context) to each call."""

    __slots__ = ("inner", "method")

    def __init__(self, inner: Any, method: str) -> None:
        self.inner = inner
        self.method = method

    def __call__(self, request: Any, *, metadata: Any = None, **options: Any) -> Any:
        extra, span = _outgoing(self.method)
        if extra:
            metadata = (*(metadata or ()), *extra)
        call = self.inner(request, metadata=metadata, **options)
        if span is not None:
            call.add_done_callback(lambda _: span.end())
        return call

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class PropagatingChannel:
    """Wraps a channel so that every unary-request call carries the caller's ids and, with
    tracing on, a CLIENT span's traceparent.

    A wrapper, not a client interceptor: grpc.aio runs an intercepted call through an extra
    task and re-yields every streamed message through Python generators (tens of
    microseconds per message, on every chunk of every stream); this costs one function call
    per RPC. Client interceptors (rhone/runtime/interceptors.py) still compose beneath it."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._channel = channel

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _PropagatingCall(self._channel.unary_unary(method, *args, **kwargs), method)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _PropagatingCall(self._channel.unary_stream(method, *args, **kwargs), method)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    async def __aenter__(self) -> PropagatingChannel:
        await self._channel.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._channel.__aexit__(*exc)
