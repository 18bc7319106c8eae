"""OpenTelemetry traces, configured by the standard OTEL_* environment variables.

Tracing is on when an OTLP endpoint is named (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER names an exporter, and
OTEL_SDK_DISABLED is not true. Off, nothing is set up and the hooks check one boolean and do
nothing else: no span objects, no context propagation beyond the ids the logs carry.

The exporter speaks OTLP over gRPC or HTTP (OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL, `grpc` or
`http/protobuf`, the latter the specification's default); endpoint, headers, timeouts, the
sampler (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*) are read by the SDK itself, as
documented at https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/.

Prompt and completion text never reach a span unless
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is true (the variable OpenTelemetry's GenAI
instrumentations use).

Spans are made here, not by the SDK's Tracer: an SDK span costs a busy service about 0.3 ms of
CPU to start and end (locks, bounded attribute maps, a processor chain, the global context),
and a call makes seven (docs/observability.md, "What it costs"). A `Span` here is a few fields
on the call's path; when it ends it becomes the SDK's ReadableSpan, which the SDK's
BatchSpanProcessor queues and its OTLP exporter encodes and sends from its own thread. The
sampler (OTEL_TRACES_SAMPLER), id generator and resource are the SDK's. A call's current span
is held by its scope (rhone.observability.scope.CallScope.span), and crosses processes as W3C
Trace Context (`traceparent`, `tracestate`)."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

log = logging.getLogger("rhone.tracing")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_UNSET = Status(StatusCode.UNSET)
# What the sampler is told of a new trace's parent: none (not whatever the process's
# OpenTelemetry context holds).
_NO_PARENT = Context()


class _Pipeline:
    """What a configured process records spans with: the SDK's pieces (imported only when
    tracing is on)."""

    __slots__ = (
        "capture_content",
        "finished",
        "follows_parent",
        "ids",
        "processors",
        "random_ids",
        "resource",
        "root_sampled",
        "sampler",
        "scope",
    )

    def __init__(
        self,
        sampler: Sampler,
        ids: IdGenerator,
        resource: Resource,
        processors: list[SpanProcessor],
        scope: InstrumentationScope,
        capture_content: bool,
    ) -> None:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, DEFAULT_OFF, DEFAULT_ON

        self.finished: type[ReadableSpan] = ReadableSpan
        self.sampler = sampler
        self.ids = ids
        self.random_ids = ids.is_trace_id_random()
        self.resource = resource
        self.processors = processors
        self.scope = scope
        self.capture_content = capture_content
        # The samplers OTEL_TRACES_SAMPLER names without an argument (always_on, always_off,
        # parentbased_always_on, the default, and parentbased_always_off) decide by a constant
        # or the parent's sampled flag: decided here, without the OpenTelemetry context and
        # sampling result the sampler would need built (half the cost of starting a span).
        # Any other sampler (a ratio, a plugin) is asked.
        self.root_sampled: bool | None = None
        if sampler is ALWAYS_ON or sampler is DEFAULT_ON:
            self.root_sampled = True
        elif sampler is ALWAYS_OFF or sampler is DEFAULT_OFF:
            self.root_sampled = False
        self.follows_parent = sampler is DEFAULT_ON or sampler is DEFAULT_OFF


_pipeline: _Pipeline | None = None


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def wanted() -> bool:
    """Whether the environment asks for traces."""
    if _truthy("OTEL_SDK_DISABLED"):
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        exporter
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_tracing(service: str) -> bool:
    """Sets up the SDK's sampler, resource, batching and exporters when the environment asks
    for traces. The SDK's tracer provider is installed too (it flushes the batches at exit,
    and serves any other OpenTelemetry user in the process)."""
    if not wanted():
        return False
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = install(service, [BatchSpanProcessor(exporter) for exporter in _exporters()])
    trace.set_tracer_provider(provider)
    log.info("tracing on (%s)", service)
    return True


def install(service: str, processors: list[SpanProcessor]) -> TracerProvider:
    """Records spans from now on, handing each finished one to `processors`; returns the
    tracer provider that holds them (and the sampler OTEL_TRACES_SAMPLER names)."""
    global _pipeline
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    class HashedOnce(Resource):
        """The process's resource, which never changes, hashed once: the OTLP encoder
        groups spans by resource, hashing it (as JSON) for every span it encodes."""

        def __init__(self, resource: Resource) -> None:
            super().__init__(resource.attributes, resource.schema_url)
            self._hash = super().__hash__()

        def __hash__(self) -> int:
            return self._hash

    resource = HashedOnce(
        Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"rhone-{service}"})
    )
    provider = TracerProvider(resource=resource)
    for processor in processors:
        provider.add_span_processor(processor)
    _pipeline = _Pipeline(
        provider.sampler,
        provider.id_generator,
        provider.resource,
        processors,
        InstrumentationScope("rhone"),
        _truthy("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"),
    )
    return provider


def _exporters() -> list[SpanExporter]:
    names = [
        n.strip().lower()
        for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")
        if n.strip()
    ]
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            exporters.append(_otlp_exporter())
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER: unsupported exporter {name!r}")
    return exporters


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpOTLPSpanExporter,
        )

        return HttpOTLPSpanExporter()
    raise ValueError(f"OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol {protocol!r}")


def enabled() -> bool:
    return _pipeline is not None


def capture_content() -> bool:
    return _pipeline is not None and _pipeline.capture_content


class Span:
    """One span: its name, kind, ids, parent, start time, attributes and status, until it
    ends. A span the sampler dropped still carries the trace's ids (its traceparent tells the
    next process so), and ending it records nothing."""

    __slots__ = (
        "attributes",
        "context",
        "kind",
        "name",
        "parent",
        "sampled",
        "start_time",
        "status",
    )

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
    ) -> None:
        self.name = name
        self.kind = kind
        self.context = context
        self.parent = parent
        self.attributes = attributes
        self.sampled = bool(context.trace_flags & TraceFlags.SAMPLED)
        self.status = _UNSET
        self.start_time = time.time_ns()

    def set_attribute(self, key: str, value: Any) -> None:
        """`value` is a str, bool, int, float or a list of one of them (the OTLP types)."""
        self.attributes[key] = value

    def set_status(self, status: Status) -> None:
        self.status = status

    def end(self) -> None:
        pipeline = _pipeline
        if pipeline is None or not self.sampled:
            return
        finished = pipeline.finished(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=pipeline.resource,
            attributes=self.attributes,
            kind=self.kind,
            status=self.status,
            start_time=self.start_time,
            end_time=time.time_ns(),
            instrumentation_scope=pipeline.scope,
        )
        for processor in pipeline.processors:
            processor.on_end(finished)

    def trace_id_hex(self) -> str:
        return format(self.context.trace_id, "032x")

    def trace_context(self) -> list[tuple[str, str]]:
        """The W3C Trace Context that makes this span the parent of a peer's span."""
        context = self.context
        items = [
            (
                TRACEPARENT,
                f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}",
            )
        ]
        if context.trace_state:
            items.append((TRACESTATE, context.trace_state.to_header()))
        return items


# W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header): version, trace
# id, parent id, flags; a later version may append fields, version 00 may not.
_TRACEPARENT = re.compile(
    r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*$"
)
_MAX_TRACEPARENT = 512
_MAX_TRACESTATE = 512


def remote_parent(traceparent: str, tracestate: str = "") -> SpanContext | None:
    """The span context a W3C `traceparent` (and `tracestate`) names; None when there is no
    valid one."""
    if not traceparent or len(traceparent) > _MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.match(traceparent)
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    context = SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(flags, 16)),
        trace_state=TraceState.from_header([tracestate])
        if tracestate and len(tracestate) <= _MAX_TRACESTATE
        else None,
    )
    return context if context.is_valid else None


# Trace flags by value: sampled (0x01), random trace id (0x02).
_FLAGS = tuple(TraceFlags(value) for value in range(4))


def start_span(
    name: str,
    kind: SpanKind,
    parent: SpanContext | None,
    attributes: dict[str, Any],
) -> Span | None:
    """A new span, child of `parent` (a new trace when None), sampled as OTEL_TRACES_SAMPLER
    says; None when tracing is off."""
    pipeline = _pipeline
    if pipeline is None:
        return None
    if pipeline.root_sampled is None:
        return _sampled_span(pipeline, name, kind, parent, attributes)
    if parent is None:
        trace_id = pipeline.ids.generate_trace_id()
        flags = (TraceFlags.SAMPLED if pipeline.root_sampled else 0) | (
            TraceFlags.RANDOM_TRACE_ID if pipeline.random_ids else 0
        )
        state = None
    else:
        trace_id = parent.trace_id
        flags = parent.trace_flags & TraceFlags.RANDOM_TRACE_ID
        if parent.trace_flags.sampled if pipeline.follows_parent else pipeline.root_sampled:
            flags |= TraceFlags.SAMPLED
        state = parent.trace_state
    context = SpanContext(
        trace_id,
        pipeline.ids.generate_span_id(),
        is_remote=False,
        trace_flags=_FLAGS[flags],
        trace_state=state,
    )
    return Span(name, kind, context, parent, attributes)


def _sampled_span(
    pipeline: _Pipeline,
    name: str,
    kind: SpanKind,
    parent: SpanContext | None,
    attributes: dict[str, Any],
) -> Span:
    """A new span, as the sampler decides."""
    if parent is None:
        trace_id = pipeline.ids.generate_trace_id()
        parent_context = _NO_PARENT
        random = pipeline.random_ids
    else:
        trace_id = parent.trace_id
        parent_context = trace.set_span_in_context(NonRecordingSpan(parent))
        random = parent.trace_flags.random_trace_id
    result = pipeline.sampler.should_sample(parent_context, trace_id, name, kind, attributes)
    flags = TraceFlags.SAMPLED if result.decision.is_sampled() else TraceFlags.DEFAULT
    if random:
        flags |= TraceFlags.RANDOM_TRACE_ID
    if len(result.attributes) > len(attributes):
        # The sampler added attributes (the SDK's own hand back the ones they were given).
        attributes.update(result.attributes)
    context = SpanContext(
        trace_id,
        pipeline.ids.generate_span_id(),
        is_remote=False,
        trace_flags=_FLAGS[flags],
        trace_state=result.trace_state,
    )
    return Span(name, kind, context, parent, attributes)
