"""Every gRPC server interceptor Rhone installs, in one place. Order matters: identity first,
so that a refused call runs nothing else.

Channels have no interceptors (grpc.aio runs every streamed message of an intercepted client
call through the interceptor's machinery): the service token rides in the metadata every call
of a PropagatingChannel carries (rhone/runtime/channels.py). Observability is not an
interceptor either: it wraps the handlers as they are registered (ObservedServer), so the
interceptors listed here run outside it."""

from __future__ import annotations

import grpc

from rhone.runtime.service_identity import RequireServiceToken, ServiceIdentity


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
