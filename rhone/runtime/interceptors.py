"""The gRPC interceptors of every Rhone server and channel, registered here and nowhere else.

Order matters: the first interceptor is the outermost, so observability comes first and its
metrics and spans cover whatever the interceptors after it refuse. Add new interceptors
(service identity, ...) to these lists."""

from __future__ import annotations

import grpc

from rhone.observability.grpc_interceptors import ServerObserver


def server_interceptors(service: str) -> list[grpc.aio.ServerInterceptor]:
    return [ServerObserver(service)]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """None yet. The call's ids and trace context reach peers through the channel wrapper of
    rhone.runtime.channels (PropagatingChannel): a client interceptor would cost every
    streamed message a detour through Python generators."""
    return []
