"""gRPC interceptors: per-RPC metrics and the call's scope on the server, the ids and the
trace context on the client. Registered in rhone/runtime/interceptors.py with the others.

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
        self._bound: dict[str, _Bound] = {}

    def _bind(self, method: str) -> _Bound:
        bound = self._bound.get(method)
        if bound is None:
            bound = self._bound[method] = _Bound(self.service, method)
        return bound

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        if handler is None or method.startswith("/grpc."):
            return handler
        bound = self._bind(method)
        metadata = handler_call_details.invocation_metadata
        if handler.unary_unary is not None:
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                unary_unary=_unary(handler.unary_unary, bound, metadata)
            )
        if handler.unary_stream is not None and not inspect.iscoroutinefunction(
            handler.unary_stream
        ):
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                unary_stream=_unary_stream(handler.unary_stream, bound, metadata)
            )
        return handler


def _unary(inner: Callable[..., Any], bound: _Bound, metadata: Any) -> Callable[..., Any]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        rpc = _Rpc(bound, metadata)
        try:
            return await inner(request, context)
        except BaseException as exc:
            rpc.failed(exc, context)
            raise
        finally:
            rpc.finish()

    return behavior


def _unary_stream(inner: Callable[..., Any], bound: _Bound, metadata: Any) -> Callable[..., Any]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        rpc = _Rpc(bound, metadata)
        try:
            async for message in inner(request, context):
                yield message
        except BaseException as exc:
            rpc.failed(exc, context)
            raise
        finally:
            rpc.finish()

    return behavior


def _method_name(details: grpc.aio.ClientCallDetails) -> str:
    method = details.method
    return (method.decode() if isinstance(method, bytes) else method).lstrip("/")


class _ClientObserver:
    """Puts the call's ids (and, tracing, a CLIENT span's context) into outgoing metadata."""

    def _prepare(
        self, details: grpc.aio.ClientCallDetails
    ) -> tuple[grpc.aio.ClientCallDetails, trace.Span | None]:
        call_scope = scope.current_or_none()
        extra = call_scope.outgoing_metadata() if call_scope is not None else []
        span = None
        if tracing.enabled():
            name = _method_name(details)
            rpc_service, _, method = name.rpartition("/")
            span = tracing.tracer().start_span(
                name,
                kind=SpanKind.CLIENT,
                attributes={
                    "rpc.system": "grpc",
                    "rpc.service": rpc_service,
                    "rpc.method": method,
                },
            )
            carrier: dict[str, str] = {}
            propagate.inject(carrier, context=trace.set_span_in_context(span))
            extra.extend(carrier.items())
        elif call_scope is not None and call_scope.traceparent:
            # Not tracing here: the client's own trace id still reaches every service's logs.
            extra.append((TRACEPARENT, call_scope.traceparent))
        if not extra:
            return details, None
        metadata = grpc.aio.Metadata(*(details.metadata or ()), *extra)
        return details._replace(metadata=metadata), span  # type: ignore[attr-defined]

    async def _intercept(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        details, span = self._prepare(client_call_details)
        call = await continuation(details, request)
        if span is not None:
            call.add_done_callback(lambda _: span.end())
        return call


# A channel files each interceptor under one kind of call only (the first kind it is), so each
# kind has its own class.
class UnaryClientObserver(_ClientObserver, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request)


class StreamClientObserver(_ClientObserver, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._intercept(continuation, client_call_details, request)
