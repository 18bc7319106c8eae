"""Every Rhone metric, defined once, with the official Prometheus client.

Names follow Prometheus conventions (`rhone_` prefix, base units, `_total` counters,
`_seconds` histograms); where the OpenTelemetry GenAI semantic conventions name the same thing
(gen_ai.client.token.usage, gen_ai.server.time_to_first_token) the name and the token `type`
label follow them. Labels are bounded: model labels hold only models that routed, and the
tenant label exists only when RHONE_METRICS_TENANT_LABEL is on (tenants can be many).

Hot paths bind their label children once per call (`labels()` takes a lock and a dict
lookup); nothing here runs per streamed chunk."""

from __future__ import annotations

import logging
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import start_http_server as _start_http_server

from rhone.observability.scope import Usage

log = logging.getLogger("rhone.metrics")

# No `_created` series beside every counter and histogram: Prometheus does not need them, and
# they double what each scrape carries.
disable_created_metrics()

# Seconds: from a few ms (a cached model list) to long generations.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
CALLS_PER_SOCKET_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

CALL_LABELS = ("surface", "transport", "model", "provider")

# Facade: one observation per call (HTTP request or WebSocket call).
REQUESTS = Counter(
    "rhone_requests_total",
    "Calls answered by the facade.",
    [*CALL_LABELS, "status", "error_code"],
)
REQUEST_DURATION = Histogram(
    "rhone_request_duration_seconds",
    "Time from a call's arrival to its last byte.",
    CALL_LABELS,
    buckets=LATENCY_BUCKETS,
)
TIME_TO_FIRST_TOKEN = Histogram(
    "rhone_time_to_first_token_seconds",
    "Time from a streamed call's arrival to its first streamed bytes "
    "(gen_ai.server.time_to_first_token).",
    CALL_LABELS,
    buckets=TTFT_BUCKETS,
)
TOKENS = Counter(
    "rhone_tokens_total",
    "Tokens by type (input, output, cached_input, reasoning), as the upstream reported them "
    "(gen_ai.client.token.usage).",
    ["model", "provider", "type"],
)
TENANT_TOKENS = Counter(
    "rhone_tenant_tokens_total",
    "Tokens by tenant and type; only with RHONE_METRICS_TENANT_LABEL=true.",
    ["tenant", "type"],
)
INFLIGHT_REQUESTS = Gauge(
    "rhone_inflight_requests",
    "Calls in progress at the facade, by transport.",
    ["transport"],
)
WS_SOCKETS_OPEN = Gauge("rhone_ws_sockets_open", "WebSockets open, by path.", ["path"])
# Read at each scrape from the open sockets (FacadeState.open binds it).
WS_QUEUED_BYTES = Gauge(
    "rhone_ws_queued_bytes",
    "Bytes of frames waiting to be written to the facade's WebSockets (slow readers); each "
    "socket holds at most RHONE_WS_MAX_QUEUED_BYTES.",
)
WS_CALLS_PER_SOCKET = Histogram(
    "rhone_ws_calls_per_socket",
    "Calls one WebSocket carried, observed when it closes.",
    ["path"],
    buckets=CALLS_PER_SOCKET_BUCKETS,
)

# gRPC servers (every service but the facade): per RPC.
GRPC_HANDLED = Counter(
    "rhone_grpc_server_handled_total",
    "RPCs completed, by service, method and gRPC status code.",
    ["service", "grpc_method", "grpc_code"],
)
GRPC_DURATION = Histogram(
    "rhone_grpc_server_handling_seconds",
    "RPC duration, from arrival to the last message.",
    ["service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_INFLIGHT = Gauge(
    "rhone_grpc_server_inflight",
    "RPCs in progress: for providers' Generate, the streams a worker carries (scale on it).",
    ["service", "grpc_method"],
)
GRPC_LANES = Gauge(
    "rhone_grpc_server_lanes",
    "Lanes open to the service: long-lived streams from its peers that carry their calls one "
    "at a time (each call is also counted as an RPC).",
    ["service"],
)

# Providers: upstream HTTP.
UPSTREAM_ATTEMPTS = Counter(
    "rhone_upstream_attempts_total", "Upstream calls started, retries included.", ["provider"]
)
UPSTREAM_RETRIES = Counter(
    "rhone_upstream_retries_total",
    "Retries of an upstream after a retryable failure.",
    ["provider"],
)
UPSTREAM_FAILOVERS = Counter(
    "rhone_upstream_failovers_total",
    "Calls moved on to the next deployment after one gave up.",
    ["provider"],
)
UPSTREAM_RESPONSES = Counter(
    "rhone_upstream_responses_total",
    "Upstream answers by HTTP status ('error' when no answer came: connect error, timeout).",
    ["provider", "status"],
)
UPSTREAM_DURATION = Histogram(
    "rhone_upstream_response_seconds",
    "Time from sending an upstream request to its response headers.",
    ["provider"],
    buckets=LATENCY_BUCKETS,
)

# Translator: its cache of sessions' contexts (services/translator/context_cache.py), read at
# each scrape (open_context_cache binds them).
CONTEXT_CACHE_BYTES = Gauge(
    "rhone_translator_context_cache_bytes",
    "Memory the translator's cached session contexts hold, estimated; at most "
    "RHONE_CONTEXT_CACHE_MB.",
)
CONTEXT_CACHE_SESSIONS = Gauge(
    "rhone_translator_context_cache_sessions",
    "Sessions whose context the translator holds; at most RHONE_CONTEXT_CACHE_SESSIONS.",
)

# Sessions.
LEASE_CONFLICTS = Counter(
    "rhone_session_lease_conflicts_total",
    "BeginTurn refused because another call holds the session (session_busy).",
)
DB_QUERY_DURATION = Histogram(
    "rhone_db_query_duration_seconds",
    "Database statements, by backend and statement kind.",
    ["backend", "operation"],
    buckets=DB_BUCKETS,
)


def tenant_label_enabled() -> bool:
    return os.environ.get("RHONE_METRICS_TENANT_LABEL", "").lower() in ("1", "true", "yes")


_TENANT_LABEL = tenant_label_enabled()


def count_tokens(model: str, provider: str, tenant: str, usage: Usage) -> None:
    for kind, value in (
        ("input", usage.input),
        ("output", usage.output),
        ("cached_input", usage.cached),
        ("reasoning", usage.reasoning),
    ):
        if value:
            TOKENS.labels(model, provider, kind).inc(value)
            if _TENANT_LABEL and tenant:
                TENANT_TOKENS.labels(tenant, kind).inc(value)


def exposition() -> tuple[bytes, str]:
    """The registry in the text exposition format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def metrics_port(service: str) -> int:
    """RHONE_<SERVICE>_METRICS_PORT; 0 (the default) serves no metrics."""
    value = os.environ.get(f"RHONE_{service.upper()}_METRICS_PORT", "").strip()
    if not value:
        return 0
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"RHONE_{service.upper()}_METRICS_PORT must be a port number") from None
    if not 0 <= port < 65536:
        raise ValueError(f"RHONE_{service.upper()}_METRICS_PORT must be a port number")
    return port


def serve_metrics(service: str) -> int:
    """Starts the /metrics HTTP server of a gRPC service (a daemon thread), when configured,
    on RHONE_METRICS_HOST (all interfaces by default: Prometheus scrapes the pod's IP)."""
    port = metrics_port(service)
    host = os.environ.get("RHONE_METRICS_HOST", "0.0.0.0")
    if port:
        _start_http_server(port, addr=host)
        log.info("%s metrics on :%d/metrics", service, port)
    return port
