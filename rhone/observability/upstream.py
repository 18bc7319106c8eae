"""The providers service's view of upstreams: attempts, retries and failovers (counted by the
failover loop), each HTTP attempt's status, latency and span (an httpx transport wrapper), and
the GenAI span of one generation.

Spans follow the OpenTelemetry GenAI semantic conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/): the generation span is
`chat {model}` with gen_ai.* attributes, and each upstream HTTP attempt is an HTTP CLIENT span
beneath it. No prompt or completion text unless capture is turned on (tracing.capture_content).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.trace import SpanKind, Status, StatusCode

from rhone.canonical import StreamAccumulator
from rhone.observability import metrics, scope, tracing
from rhone.v1 import generation_pb2 as gen


def attempt_started(provider: str, model: str, attempt: int, failed_over_from: str = "") -> None:
    """One attempt at one deployment (attempt is 1-based; > 1 is a retry)."""
    metrics.UPSTREAM_ATTEMPTS.labels(provider).inc()
    if attempt > 1:
        metrics.UPSTREAM_RETRIES.labels(provider).inc()
    elif failed_over_from:
        metrics.UPSTREAM_FAILOVERS.labels(failed_over_from).inc()
    call = scope.current_or_none()
    if call is not None:
        call.provider, call.model, call.attempt = provider, model, attempt


class ObservedTransport(httpx.AsyncBaseTransport):
    """Wraps the pool's transport: status and time to headers per provider, and with tracing
    on an HTTP CLIENT span that lasts until the response body is closed."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call = scope.current_or_none()
        provider = call.provider if call is not None else ""
        span = None
        if tracing.enabled():
            url = request.url
            span = tracing.start_span(
                request.method,
                SpanKind.CLIENT,
                call.span.context if call is not None and call.span is not None else None,
                {
                    "http.request.method": request.method,
                    "server.address": url.host,
                    "server.port": url.port or (443 if url.scheme == "https" else 80),
                    "url.path": url.path,
                    "gen_ai.provider.name": provider,
                    "gen_ai.request.model": call.model if call is not None else "",
                    "rhone.attempt": call.attempt if call is not None else 0,
                },
            )
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException as exc:
            metrics.UPSTREAM_RESPONSES.labels(provider, "error").inc()
            if span is not None:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.end()
            raise
        metrics.UPSTREAM_DURATION.labels(provider).observe(time.perf_counter() - started)
        metrics.UPSTREAM_RESPONSES.labels(provider, str(response.status_code)).inc()
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
            response.stream = _SpanEndingStream(response.stream, span)  # type: ignore[arg-type]
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _SpanEndingStream(httpx.AsyncByteStream):
    """The response body, unchanged: its chunks come straight from the inner stream (no
    generator between), and closing it ends the span."""

    def __init__(self, inner: Any, span: tracing.Span) -> None:
        self.inner = inner
        self.span = span

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.inner.__aiter__()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.span.end()


class GenerationSpan:
    """The GenAI `chat {model}` span of one generation: the call's current span while the
    generation runs (each attempt's HTTP span is its child), noting what the events say.

    The providers servicer hands it each event from the loop that relays them (`note`, a
    check of the event's kind), instead of a generator of its own around the events, which
    would cost every streamed event a resumption."""

    __slots__ = ("accumulator", "call", "outer", "span")

    def __init__(self, span: tracing.Span) -> None:
        self.span = span
        self.call = scope.current_or_none()
        self.outer = self.call.span if self.call is not None else None
        if self.call is not None:
            self.call.span = span
        self.accumulator = StreamAccumulator() if tracing.capture_content() else None

    def note(self, event: gen.GenerationEvent) -> None:
        kind = event.WhichOneof("event")
        if self.accumulator is not None:
            self.accumulator.feed(event)
        if kind == "part_delta":
            return
        span = self.span
        if kind == "started":
            span.set_attribute("gen_ai.provider.name", event.started.provider)
            span.set_attribute("gen_ai.response.model", event.started.model)
            span.set_attribute("gen_ai.response.id", event.started.id)
        elif kind == "usage":
            usage = event.usage
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
            if usage.cached_input_tokens:
                span.set_attribute(
                    "gen_ai.usage.cache_read.input_tokens", usage.cached_input_tokens
                )
            if usage.reasoning_tokens:
                span.set_attribute("gen_ai.usage.reasoning.output_tokens", usage.reasoning_tokens)
        elif kind == "finished":
            reason = gen.FinishReason.Name(event.finished.reason)
            span.set_attribute(
                "gen_ai.response.finish_reasons", [reason.removeprefix("FINISH_REASON_").lower()]
            )
        elif kind == "failure":
            code = scope.error_code_of(event.failure)
            span.set_attribute("error.type", code)
            span.set_status(Status(StatusCode.ERROR, code))

    def end(self) -> None:
        if self.accumulator is not None:
            message = self.accumulator.result().message
            self.span.set_attribute(
                "gen_ai.output.messages", orjson.dumps([MessageToDict(message)]).decode()
            )
        self.span.end()
        if self.call is not None:
            self.call.span = self.outer


def generation_span(request: gen.GenerateRequest) -> GenerationSpan | None:
    """With tracing on, the span of the generation `request` asks for; None when off."""
    if not tracing.enabled():
        return None
    call = scope.current_or_none()
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": request.model,
    }
    config = request.config
    if config.HasField("max_tokens"):
        attributes["gen_ai.request.max_tokens"] = config.max_tokens
    if config.HasField("temperature"):
        attributes["gen_ai.request.temperature"] = config.temperature
    if config.HasField("top_p"):
        attributes["gen_ai.request.top_p"] = config.top_p
    if tracing.capture_content():
        attributes["gen_ai.input.messages"] = orjson.dumps(
            [MessageToDict(m) for m in request.messages]
        ).decode()
    span = tracing.start_span(
        f"chat {request.model}",
        SpanKind.CLIENT,
        call.span.context if call is not None and call.span is not None else None,
        attributes,
    )
    return None if span is None else GenerationSpan(span)
