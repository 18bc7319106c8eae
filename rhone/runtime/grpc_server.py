"""Starting a Rhone gRPC service: the standard health and reflection services, bounded message
sizes, and a graceful stop on SIGTERM (health goes NOT_SERVING, in-flight calls get a grace
period)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rhone.observability.grpc_hooks import ObservedServer
from rhone.observability.metrics import serve_metrics
from rhone.runtime.interceptors import server_interceptors

log = logging.getLogger("rhone.grpc")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


async def serve(
    *,
    name: str,
    listen: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: list[str],
    on_stop: Callable[[], Awaitable[None]] | None = None,
    grace_s: float = 10.0,
    on_start: Callable[[health.aio.HealthServicer], Awaitable[None]] | None = None,
) -> None:
    """Runs a gRPC server until SIGTERM or SIGINT. `on_start` gets the health servicer once
    serving (a service whose health depends on more than its process sets it there)."""
    interceptors = server_interceptors(name)
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=interceptors or None)
    serve_metrics(name)
    register(ObservedServer(server, name))  # type: ignore[arg-type]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(listen)
    if port == 0:
        raise RuntimeError(f"{name}: cannot listen on {listen}")
    await server.start()
    for service in ["", *service_names]:
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s listening on %s", name, listen)
    if on_start is not None:
        await on_start(health_servicer)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("%s stopping", name)
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace_s)
    if on_stop is not None:
        await on_stop()
