"""Every gRPC interceptor Rhone installs, in one place, so that servers and channels get the
same chain. Order matters on servers: identity first, so that a refused call runs nothing else.

Observability is not an interceptor (grpc.aio's interceptor machinery costs every RPC, and
every streamed message of an intercepted client call, more than the whole bookkeeping): it
wraps the handlers as they are registered (ObservedServer) and the channels
(PropagatingChannel), so interceptors listed here run inside it."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from rhone.runtime.service_identity import (
    RequireServiceToken,
    ServiceIdentity,
    send_service_token,
)


def internal_server_interceptors(identity: ServiceIdentity) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors of an internal service's server (translator, sessions, providers)."""
    interceptors: list[grpc.aio.ServerInterceptor] = []
    if identity.token:
        interceptors.append(RequireServiceToken(identity.token))
    return interceptors


def public_server_interceptors(
    authenticate: grpc.aio.ServerInterceptor,
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors of the facade's public gRPC server: `authenticate` resolves the
    caller's API key to a tenant (services/facade/grpc_api/auth.py)."""
    return [authenticate]


def client_interceptors(identity: ServiceIdentity) -> Sequence[grpc.aio.ClientInterceptor]:
    """The interceptors of every channel from one Rhone service to another."""
    return send_service_token(identity.token) if identity.token else []
