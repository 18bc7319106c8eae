"""The facade's observability: an ASGI middleware around every request and socket, the
`/metrics` route, and the observation of each WebSocket call.

Per HTTP request: an `x-request-id` on the response (the client's own kept when it is a sane
one), the call's scope for log lines and peers, with tracing on a SERVER span whose parent is
the client's `traceparent`, and at the end the request metrics and one access line (surface,
transport, model, provider, status, error code, latency, time to first token, tokens; never
bodies, query strings or keys). Model, provider and usage come back from the translator in its
trailing metadata (the relay hands them to the scope).

The Anthropic surface names its request id `request-id` and also puts it in error bodies
(docs.anthropic.com/en/api/errors), so there the middleware does both."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import orjson
from fastapi import FastAPI
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rhone.observability import metrics, scope, tracing
from rhone.v1 import translator_pb2 as tpb
from services.facade.ws.frame_writer import remember_protocol

access_log = logging.getLogger("rhone.access")

UNMEASURED = frozenset({"/metrics", "/healthz", "/readyz"})
_REQUEST_ID = b"x-request-id"
_ANTHROPIC_REQUEST_ID = b"request-id"
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"

_STATUS_CODES = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal",
    502: "upstream_error",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}


def surface_of(path: str) -> str:
    """The public API a path belongs to (a fixed set: a metric label)."""
    if path.startswith("/v1/chat/completions"):
        return "openai_chat"
    if path.startswith("/v1/responses"):
        return "openai_responses"
    if path.startswith("/v1/messages"):
        return "anthropic_messages"
    if "/publishers/google/" in path:
        return "vertex"
    if path.startswith("/v1beta/") or (path.startswith("/v1/models/") and ":" in path):
        return "gemini"
    if path.startswith("/v1/ws"):
        return "rhone_ws"
    if path.startswith("/v1/sessions"):
        return "rhone_sessions"
    if path.startswith("/v1/models"):
        return "models"
    return "other"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return ""


class _Exchange:
    """One HTTP request or socket, from arrival to last byte."""

    __slots__ = (
        "call",
        "complete",
        "content_type",
        "first_body_at",
        "held_start",
        "path",
        "scope_token",
        "started",
        "status",
        "streamed",
        "surface",
    )

    def __init__(self, asgi_scope: Scope) -> None:
        self.path: str = asgi_scope["path"]
        self.surface = surface_of(self.path)
        self.started = time.perf_counter()
        self.status = 0
        self.first_body_at = 0.0
        self.streamed = False
        self.complete = False
        self.content_type = ""
        self.held_start: Message | None = None
        headers = asgi_scope["headers"]
        request_id = scope.valid_request_id(_header(headers, _REQUEST_ID)) or scope.new_request_id()
        traceparent = _header(headers, _TRACEPARENT)
        tracestate = _header(headers, _TRACESTATE) if traceparent else ""
        self.call = scope.CallScope(
            request_id=request_id, traceparent=traceparent, tracestate=tracestate
        )
        self.scope_token = scope.enter(self.call)
        if tracing.enabled():
            method = asgi_scope.get("method", "GET")
            self.call.span = tracing.start_span(
                f"{method} {self.surface}",
                SpanKind.SERVER,
                tracing.remote_parent(traceparent, tracestate),
                {
                    "http.request.method": method,
                    "url.path": self.path,
                    "rhone.surface": self.surface,
                    "rhone.request_id": request_id,
                },
            )

    @property
    def span(self) -> tracing.Span | None:
        return self.call.span

    def response_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        request_id = self.call.request_id.encode()
        extra = [(_REQUEST_ID, request_id)]
        if self.surface == "anthropic_messages":
            extra.append((_ANTHROPIC_REQUEST_ID, request_id))
        names = {name for name, _ in extra}
        return [*(h for h in headers if h[0] not in names), *extra]

    def close(self) -> None:
        if self.span is not None:
            self.span.end()
        try:
            scope.leave(self.scope_token)
        except ValueError:
            pass


def _with_request_id(body: bytes, request_id: str) -> bytes:
    """An Anthropic error body with its request_id, as Anthropic's own carry it."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(parsed, dict) or parsed.get("type") != "error":
        return body
    parsed["request_id"] = request_id
    return orjson.dumps(parsed)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        kind = asgi_scope["type"]
        if kind == "http":
            await self._http(asgi_scope, receive, send)
        elif kind == "websocket":
            await self._websocket(asgi_scope, receive, send)
        else:
            await self.app(asgi_scope, receive, send)

    async def _http(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        exchange = _Exchange(asgi_scope)
        inflight = None
        if exchange.path not in UNMEASURED:
            inflight = metrics.INFLIGHT_REQUESTS.labels("http")
            inflight.inc()

        async def observed_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                exchange.status = message["status"]
                headers = exchange.response_headers(list(message.get("headers", ())))
                exchange.content_type = _header(headers, b"content-type")
                if not exchange.call.session_id:
                    exchange.call.session_id = _header(headers, b"x-rhone-session-id")
                message = {**message, "headers": headers}
                if exchange.surface == "anthropic_messages" and exchange.status >= 400:
                    exchange.held_start = message  # the body gets its request_id first
                    return
            elif kind == "http.response.body":
                more = message.get("more_body", False)
                if more:
                    exchange.streamed = True
                if not exchange.first_body_at and message.get("body"):
                    exchange.first_body_at = time.perf_counter()
                if not more:
                    exchange.complete = True
                if exchange.held_start is not None:
                    start, exchange.held_start = exchange.held_start, None
                    if not more:
                        body = _with_request_id(message.get("body", b""), exchange.call.request_id)
                        headers = [
                            (k, str(len(body)).encode() if k == b"content-length" else v)
                            for k, v in start["headers"]
                        ]
                        start = {**start, "headers": headers}
                        message = {**message, "body": body}
                    await send(start)
            await send(message)

        try:
            await self.app(asgi_scope, receive, observed_send)
        except BaseException:
            if not exchange.status:
                exchange.status = 500
            raise
        finally:
            if inflight is not None:
                inflight.dec()
                _finish_http(exchange)
            exchange.close()

    async def _websocket(self, asgi_scope: Scope, receive: Receive, send: Send) -> None:
        remember_protocol(asgi_scope, send)  # for the socket's frame writer
        exchange = _Exchange(asgi_scope)
        accepted = False

        async def observed_send(message: Message) -> None:
            nonlocal accepted
            kind = message["type"]
            if kind in ("websocket.accept", "websocket.http.response.start"):
                headers = exchange.response_headers(list(message.get("headers") or ()))
                message = {**message, "headers": headers}
                if kind == "websocket.accept":
                    accepted = True
                    metrics.WS_SOCKETS_OPEN.labels(exchange.path).inc()
                else:
                    exchange.status = message["status"]
            await send(message)

        try:
            await self.app(asgi_scope, receive, observed_send)
        finally:
            if accepted:
                metrics.WS_SOCKETS_OPEN.labels(exchange.path).dec()
                metrics.WS_CALLS_PER_SOCKET.labels(exchange.path).observe(exchange.call.calls)
            elif exchange.status:
                # A refused upgrade: a call that failed, on the socket's transport.
                _finish(exchange, "ws", str(exchange.status), _STATUS_CODES.get(exchange.status))
            exchange.close()


def _finish_http(exchange: _Exchange) -> None:
    status = exchange.status or 500
    code = exchange.call.error_code
    if exchange.status and not exchange.complete:
        code = "cancelled"  # the client went away before the last byte
    elif not code and status >= 400:
        code = _STATUS_CODES.get(status, "internal" if status >= 500 else "invalid_request")
    transport = "sse" if exchange.content_type.startswith("text/event-stream") else "http"
    _finish(exchange, transport, str(status), code)


def _finish(exchange: _Exchange, transport: str, status: str, code: str | None) -> None:
    call = exchange.call
    now = time.perf_counter()
    latency = now - exchange.started
    ttft = exchange.first_body_at - exchange.started if exchange.streamed else None
    record_call(call, exchange.surface, transport, status, code or "", latency, ttft, exchange.span)
    fields: dict[str, Any] = {
        "surface": exchange.surface,
        "transport": transport,
        "path": exchange.path,
        "status": int(status),
        "error_code": code or "",
        "model": call.model,
        "provider": call.provider,
        "latency_ms": round(latency * 1000, 1),
    }
    if ttft is not None:
        fields["ttft_ms"] = round(ttft * 1000, 1)
    if call.usage is not None:
        fields["tokens_in"] = call.usage.input
        fields["tokens_out"] = call.usage.output
        fields["tokens_cached"] = call.usage.cached
        fields["tokens_reasoning"] = call.usage.reasoning
    access_log.info("%s %s %s", exchange.surface, transport, status, extra={"fields": fields})


def record_call(
    call: scope.CallScope,
    surface: str,
    transport: str,
    status: str,
    code: str,
    latency: float,
    ttft: float | None,
    span: tracing.Span | None,
) -> None:
    """The metrics of one finished call (HTTP request or WebSocket call)."""
    labels = (surface, transport, call.model, call.provider)
    metrics.REQUESTS.labels(*labels, status, code).inc()
    metrics.REQUEST_DURATION.labels(*labels).observe(latency)
    if ttft is not None:
        metrics.TIME_TO_FIRST_TOKEN.labels(*labels).observe(ttft)
    if call.usage is not None:
        metrics.count_tokens(call.model, call.provider, call.tenant, call.usage)
    if span is not None:
        span.set_attribute("http.response.status_code", int(status))
        if call.model:
            span.set_attribute("gen_ai.request.model", call.model)
        if call.provider:
            span.set_attribute("gen_ai.provider.name", call.provider)
        if call.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", call.usage.input)
            span.set_attribute("gen_ai.usage.output_tokens", call.usage.output)
        if code:
            span.set_attribute("error.type", code)
            if code != "cancelled":
                span.set_status(Status(StatusCode.ERROR, code))


P = ParamSpec("P")
R = TypeVar("R")

# The translator's surfaces, as metric labels (the same names surface_of gives their paths).
SURFACE_NAMES = {
    tpb.SURFACE_OPENAI_CHAT: "openai_chat",
    tpb.SURFACE_OPENAI_RESPONSES: "openai_responses",
    tpb.SURFACE_ANTHROPIC_MESSAGES: "anthropic_messages",
    tpb.SURFACE_GEMINI: "gemini",
    tpb.SURFACE_VERTEX: "vertex",
}


def observed_ws_call(run: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Observes one call of a socket as a call of its own (transport `ws`): its scope (the
    socket's request id, the call's tenant), its span, its metrics and access line. The wrapped
    function takes `surface`, `tenant_id` and `emit` (whose first use is the call's first token)
    and returns a CallOutcome (ok, status, code)."""

    @functools.wraps(run)
    async def observed(*args: P.args, **kwargs: P.kwargs) -> R:
        socket = scope.current_or_none()
        if socket is not None:
            socket.calls += 1
        surface: Any = kwargs["surface"]
        exchange = _WsExchange(socket, SURFACE_NAMES.get(surface.proto_surface, "other"))
        exchange.call.tenant = str(kwargs.get("tenant_id", ""))
        emit: Any = kwargs["emit"]

        async def first_emit(data: bytes) -> None:
            if not exchange.first_body_at:
                exchange.first_body_at = time.perf_counter()
            await emit(data)

        kwargs["emit"] = first_emit
        status, code = "499", "cancelled"
        try:
            outcome: Any = await run(*args, **kwargs)
            status = "200" if outcome.ok else str(outcome.status or 500)
            exchange.call.session_id = outcome.session_id or exchange.call.session_id
            code = "" if outcome.ok else (exchange.call.error_code or outcome.code)
            return outcome  # type: ignore[no-any-return]
        except Exception:
            status, code = "500", "internal"
            raise
        finally:
            _finish(exchange, "ws", status, code)
            exchange.close()

    return observed


class _WsExchange(_Exchange):
    __slots__ = ()

    def __init__(self, socket: scope.CallScope | None, surface: str) -> None:
        self.path = "ws"
        self.surface = surface
        self.started = time.perf_counter()
        self.status = 0
        self.first_body_at = 0.0
        self.streamed = True
        self.complete = False
        self.content_type = ""
        self.held_start = None
        self.call = scope.CallScope(
            request_id=socket.request_id if socket else scope.new_request_id(),
            traceparent=socket.traceparent if socket else "",
            tracestate=socket.tracestate if socket else "",
        )
        self.scope_token = scope.enter(self.call)
        if tracing.enabled():
            # A child of the socket's span.
            parent = socket.span if socket is not None else None
            self.call.span = tracing.start_span(
                f"ws {surface}",
                SpanKind.SERVER,
                parent.context if parent is not None else None,
                {"rhone.surface": surface, "rhone.request_id": self.call.request_id},
            )


def fastapi_options() -> dict[str, Any]:
    """FastAPI's own telemetry off (newer FastAPI traces every request through the global
    tracer provider): the middleware here makes the facade's spans, with Rhone's attributes,
    and nothing else runs per request when tracing is off."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {
        "telemetry": {
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        }
    }


def install(app: FastAPI) -> None:
    """The middleware (outermost) and GET /metrics."""
    app.add_middleware(ObservabilityMiddleware)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)
