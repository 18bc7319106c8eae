"""Observability shared by the four services: Prometheus metrics, OpenTelemetry traces and the
ids every log line carries. Services reach it through small hooks; everything else lives here.

- `scope`: the call's ids (request id, tenant, session) and what the call learned (model,
  provider, usage, error code), held in a context variable for the length of one call.
- `metrics`: every metric, defined once, and the HTTP server of a gRPC service's metrics.
- `tracing`: OpenTelemetry setup from the standard OTEL_* variables; off (and free) by default.
- `grpc_hooks`: per-RPC metrics, trace and id propagation (wrapped handlers and channels).
- `upstream`: the span and metrics of one upstream HTTP attempt.
"""
