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
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx
import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry import context as otel_context
from opentelemetry import trace
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
            span = tracing.tracer().start_span(
                request.method,
                kind=SpanKind.CLIENT,
                attributes={
                    "http.request.method": request.method,
                    "server.address": request.url.host,
                    "server.port": request.url.port
                    or (443 if request.url.scheme == "https" else 80),
                    "url.path": request.url.path,
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
    def __init__(self, inner: Any, span: trace.Span) -> None:
        self.inner = inner
        self.span = span

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            self.span.end()


def observe_generation(
    request: gen.GenerateRequest, events: AsyncGenerator[gen.GenerationEvent, None]
) -> AsyncGenerator[gen.GenerationEvent, None]:
    """The events, unchanged; with tracing on, inside a GenAI `chat {model}` span."""
    if not tracing.enabled():
        return events
    return _generation_span(request, events)


async def _generation_span(
    request: gen.GenerateRequest, events: AsyncGenerator[gen.GenerationEvent, None]
) -> AsyncGenerator[gen.GenerationEvent, None]:
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
    capture = tracing.capture_content()
    if capture:
        attributes["gen_ai.input.messages"] = orjson.dumps(
            [MessageToDict(m) for m in request.messages]
        ).decode()
    span = tracing.tracer().start_span(
        f"chat {request.model}", kind=SpanKind.CLIENT, attributes=attributes
    )
    # Current while the generation runs, so that each attempt's HTTP span is its child. Not
    # restored after: the RPC's task (and its context) ends with the generation.
    otel_context.attach(trace.set_span_in_context(span))
    accumulator = StreamAccumulator() if capture else None
    try:
        async for event in events:
            _note(span, event)
            if accumulator is not None:
                accumulator.feed(event)
            yield event
    finally:
        if accumulator is not None:
            message = accumulator.result().message
            span.set_attribute(
                "gen_ai.output.messages", orjson.dumps([MessageToDict(message)]).decode()
            )
        span.end()


def _note(span: trace.Span, event: gen.GenerationEvent) -> None:
    kind = event.WhichOneof("event")
    if kind == "started":
        span.set_attribute("gen_ai.provider.name", event.started.provider)
        span.set_attribute("gen_ai.response.model", event.started.model)
        span.set_attribute("gen_ai.response.id", event.started.id)
    elif kind == "usage":
        usage = event.usage
        span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        if usage.cached_input_tokens:
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", usage.cached_input_tokens)
        if usage.reasoning_tokens:
            span.set_attribute("gen_ai.usage.reasoning.output_tokens", usage.reasoning_tokens)
    elif kind == "finished":
        reason = gen.FinishReason.Name(event.finished.reason)
        span.set_attribute(
            "gen_ai.response.finish_reasons", [reason.removeprefix("FINISH_REASON_").lower()]
        )
    elif kind == "failure":
        span.set_attribute("error.type", scope.error_code_of(event.failure))
        span.set_status(Status(StatusCode.ERROR, scope.error_code_of(event.failure)))
