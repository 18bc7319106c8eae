"""Starting a Rhone gRPC service: the standard health service (and reflection, when
RHONE_GRPC_REFLECTION is on), bounded message sizes, service identity (mTLS or the service
token; rhone/runtime/service_identity.py), and a graceful stop on SIGTERM (health goes
NOT_SERVING, in-flight calls get a grace period)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rhone.runtime.interceptors import internal_server_interceptors
from rhone.runtime.service_identity import IdentityError, ServiceIdentity

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
    identity: ServiceIdentity | None = None,
) -> None:
    """Runs an internal gRPC server until SIGTERM or SIGINT. Without a service identity in
    the settings the process exits at once, saying what to set."""
    try:
        identity = identity or ServiceIdentity.from_settings()
    except IdentityError as exc:
        # Whatever the service opened (its database) is closed, so that the process exits.
        if on_stop is not None:
            await on_stop()
        raise SystemExit(f"{name}: {exc}") from None
    server, health_servicer = await start_server(
        name=name,
        listen=listen,
        register=register,
        service_names=service_names,
        interceptors=internal_server_interceptors(identity),
        credentials=identity.server_credentials() if identity.tls else None,
        reflect=identity.reflection,
    )

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


async def start_server(
    *,
    name: str,
    listen: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: list[str],
    interceptors: Sequence[grpc.aio.ServerInterceptor],
    credentials: grpc.ServerCredentials | None,
    reflect: bool,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """A started server with health (every service SERVING) and, if asked, reflection."""
    server = grpc.aio.server(options=SERVER_OPTIONS, interceptors=list(interceptors))
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflect:
        reflection.enable_server_reflection(
            [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
    if credentials is None:
        port = server.add_insecure_port(listen)
    else:
        port = server.add_secure_port(listen, credentials)
    if port == 0:
        raise RuntimeError(f"{name}: cannot listen on {listen}")
    await server.start()
    for service in ["", *service_names]:
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s listening on %s%s", name, listen, " (TLS)" if credentials else "")
    return server, health_servicer
