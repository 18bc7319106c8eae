"""Starting a Rhone gRPC service: the standard health and reflection services, bounded message
sizes and concurrent calls, connections that age out, and a drain on SIGTERM.

SIGTERM drains: health turns NOT_SERVING at once (the pod leaves its Service's endpoints), the
server refuses new calls (clients retry them on another pod, see rhone/runtime/channels.py),
and the calls in flight get RHONE_SHUTDOWN_GRACE_S to finish before the process exits.

A connection is closed (GOAWAY) after RHONE_GRPC_MAX_CONNECTION_AGE_S, once its streams have
ended, so that clients resolve their target again and new pods get calls
(https://github.com/grpc/proposal/blob/master/A9-server-side-conn-mgt.md).

Service identity (mTLS or the service token; rhone/runtime/service_identity.py) is required of
every caller but the health checks; reflection is served only when RHONE_GRPC_REFLECTION is on.

Every service also serves its methods on lanes (rhone/runtime/lane_server.py): the drain ends
idle lanes first, so that they do not hold the server for its grace."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rhone.observability.grpc_hooks import ObservedServer
from rhone.observability.metrics import serve_metrics
from rhone.runtime.call_limit import CallLimiter
from rhone.runtime.interceptors import internal_guards
from rhone.runtime.lane_server import LANE_SERVICE, LaneServer
from rhone.runtime.service_identity import IdentityError, ServiceIdentity
from rhone.runtime.settings import ServingSettings, max_concurrent_calls

log = logging.getLogger("rhone.grpc")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# HTTP/2 flow control between Rhone's services, on both ends (channels.py too): a fixed window
# of 1 MiB a stream instead of windows sized by BDP probing, which pings its peer as data
# arrives and cost about 3% of the CPU of a whole call (many small messages, few large ones,
# peers a fraction of a millisecond apart; docs/performance.md). 1 MiB moves a 10 MiB request
# in ten round trips.
FLOW_CONTROL_OPTIONS = [
    ("grpc.http2.bdp_probe", 0),
    ("grpc.http2.lookahead_bytes", 1024 * 1024),
]
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # A port another process holds is an error at start, never a port shared with it.
    ("grpc.so_reuseport", 0),
    *FLOW_CONTROL_OPTIONS,
]


def server_options(settings: ServingSettings) -> list[tuple[str, int]]:
    return [
        *SERVER_OPTIONS,
        ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.grpc_max_connection_age_grace_s * 1000)),
    ]


async def serve(
    *,
    name: str,
    listen: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: list[str],
    on_stop: Callable[[], Awaitable[None]] | None = None,
    on_start: Callable[[health.aio.HealthServicer], Awaitable[None]] | None = None,
    identity: ServiceIdentity | None = None,
) -> None:
    """Runs an internal gRPC server until SIGTERM or SIGINT, then drains it. Without a service
    identity in the settings the process exits at once, saying what to set. `on_start` gets
    the health servicer once serving (a service whose health depends on more than its process
    sets it there)."""
    try:
        identity = identity or ServiceIdentity.from_settings()
    except IdentityError as exc:
        # Whatever the service opened (its database) is closed, so that the process exits.
        if on_stop is not None:
            await on_stop()
        raise SystemExit(f"{name}: {exc}") from None
    settings = ServingSettings()
    limit = max_concurrent_calls(name)
    serve_metrics(name)
    guards = internal_guards(identity, CallLimiter(name, limit))
    lanes = LaneServer(name, identity.token)

    def register_all(server: grpc.aio.Server) -> None:
        register(ObservedServer(server, name, guards, lanes))  # type: ignore[arg-type]
        lanes.register(server)

    server, health_servicer = await start_server(
        name=name,
        listen=listen,
        register=register_all,
        service_names=[*service_names, LANE_SERVICE],
        interceptors=[],
        credentials=identity.server_credentials() if identity.tls else None,
        reflect=identity.reflection,
        options=server_options(settings),
    )
    log.info("%s: at most %d concurrent calls", name, limit)
    if on_start is not None:
        await on_start(health_servicer)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("%s draining: up to %.0fs for the calls in flight", name, settings.shutdown_grace_s)
    await health_servicer.enter_graceful_shutdown()
    lanes.drain()
    await server.stop(settings.shutdown_grace_s)
    log.info("%s stopped", name)
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
    options: Sequence[tuple[str, int]] = tuple(SERVER_OPTIONS),
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """A started server with health (every service SERVING) and, if asked, reflection. A port
    that is taken ends the process with one line (status 1), not a traceback."""
    server = grpc.aio.server(options=list(options), interceptors=list(interceptors))
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflect:
        reflection.enable_server_reflection(
            [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
    cause: RuntimeError | None = None
    try:
        if credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        port, cause = 0, exc
    if port == 0:
        message = f"{name}: cannot listen on {listen}: {cause or 'the address is taken'}"
        log.error(message)
        raise SystemExit(message)
    await server.start()
    for service in ["", *service_names]:
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("%s listening on %s%s", name, listen, " (TLS)" if credentials else "")
    return server, health_servicer
