"""The gRPC interceptors of every Rhone server and channel, registered here and nowhere else.

Add new interceptors (service identity, ...) to these lists; the first is the outermost.
Observability is not an interceptor (grpc.aio's interceptor machinery costs every RPC, and
every streamed message of an intercepted client call, more than the whole bookkeeping): it
wraps the handlers as they are registered (ObservedServer) and the channels
(PropagatingChannel), so interceptors added here run inside it."""

from __future__ import annotations

import grpc


def server_interceptors(service: str) -> list[grpc.aio.ServerInterceptor]:
    return []


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """None yet. The call's ids and trace context reach peers through the channel wrapper of
    rhone.runtime.channels (PropagatingChannel): a client interceptor would cost every
    streamed message a detour through Python generators."""
    return []
