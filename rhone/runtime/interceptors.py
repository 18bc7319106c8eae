"""Every guard and gRPC server interceptor Rhone installs, in one place. Order matters:
identity first, so that a refused call runs nothing else and takes no call slot.

An internal service's server has guards, not interceptors (rhone/runtime/handler_guards.py):
they are wrapped around its handlers as they are registered, outside observability
(ObservedServer), so a call they refuse is not counted as one the service handled. Channels
have no interceptors either (grpc.aio runs every streamed message of an intercepted client call
through the interceptor's machinery): the service token rides in the metadata every call of a
PropagatingChannel carries (rhone/runtime/channels.py)."""

from __future__ import annotations

import grpc

from rhone.runtime.call_limit import CallLimiter
from rhone.runtime.handler_guards import Guard
from rhone.runtime.service_identity import RequireServiceToken, ServiceIdentity


def internal_guards(identity: ServiceIdentity, limiter: CallLimiter) -> list[Guard]:
    """The guards of an internal service's server (translator, sessions, providers)."""
    guards: list[Guard] = []
    if identity.token:
        guards.append(RequireServiceToken(identity.token))
    guards.append(limiter)
    return guards


def public_server_interceptors(
    authenticate: grpc.aio.ServerInterceptor,
) -> list[grpc.aio.ServerInterceptor]:
    """The interceptors of the facade's public gRPC server: `authenticate` resolves the
    caller's API key to a tenant (services/facade/grpc_api/auth.py)."""
    return [authenticate]
