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
instrumentations use)."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("rhone.tracing")

_enabled = False
_capture_content = False
_tracer: Tracer = trace.NoOpTracer()


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
    """Installs the SDK's tracer provider and exporter when the environment asks for traces."""
    global _enabled, _capture_content, _tracer
    if not wanted():
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or f"rhone-{service}"}
    )
    provider = TracerProvider(resource=resource)
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = provider.get_tracer("rhone")
    _capture_content = _truthy("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    _enabled = True
    log.info("tracing on (%s)", service)
    return True


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
    return _enabled


def capture_content() -> bool:
    return _capture_content


def tracer() -> Tracer:
    return _tracer


def trace_id_hex() -> str:
    """The current span's trace id (for log lines), or '' outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def trace_id_of_traceparent(value: str | None) -> str:
    """The trace id inside a W3C traceparent header ('' when it is not one)."""
    if not value:
        return ""
    parts = value.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return ""
    try:
        int(parts[1], 16)
    except ValueError:
        return ""
    return parts[1].lower()
