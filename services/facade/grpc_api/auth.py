"""Who calls the public gRPC API: the Principal of the API key in the `authorization` metadata
(`Bearer <key>`), resolved by the facade's Authenticator exactly as for HTTP: the tenant, the
key, and what the edge enforces for it (limits, budgets, allowed models). It is never read
from a request body. The servicers read it with `current_principal()` (or `current_tenant()`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from rhone.errors import RhoneError
from rhone.runtime.service_identity import HEALTH_SERVICE
from services.facade.auth import Authenticator, Principal
from services.facade.grpc_api.errors import abort_with

_PRINCIPAL: ContextVar[Principal] = ContextVar("rhone_public_grpc_principal")
# Reflection tells what the API is, never a tenant's data; health is for probes.
OPEN_SERVICES = frozenset({HEALTH_SERVICE, "grpc.reflection.v1alpha.ServerReflection"})


def current_principal() -> Principal:
    """The caller; set for every call that reached a servicer."""
    return _PRINCIPAL.get()


def current_tenant() -> str:
    """The calling tenant."""
    return _PRINCIPAL.get().tenant_id


def bearer_key(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    """Resolves the caller's API key before any public RPC runs; UNAUTHENTICATED (reason
    MISSING_API_KEY or INVALID_API_KEY) when it is absent or unknown."""

    def __init__(self, auth: Authenticator) -> None:
        self._auth = auth

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        service = details.method.split("/")[1] if details.method.count("/") >= 2 else ""
        if handler is None or service in OPEN_SERVICES:
            return handler
        key = bearer_key(details.invocation_metadata)
        return _with_principal(handler, lambda: self._auth.principal_of_key(key))


def _with_principal(
    handler: grpc.RpcMethodHandler, resolve: Callable[[], Awaitable[Principal]]
) -> grpc.RpcMethodHandler:
    """The same handler, run with the caller set (only unary requests exist here)."""

    async def principal_or_abort(context: grpc.aio.ServicerContext) -> Principal:
        try:
            return await resolve()
        except RhoneError as exc:
            await abort_with(context, exc.failure)

    if handler.unary_unary is not None:
        inner_unary = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = _PRINCIPAL.set(await principal_or_abort(context))
            try:
                return await inner_unary(request, context)
            finally:
                with contextlib.suppress(ValueError):
                    _PRINCIPAL.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = _PRINCIPAL.set(await principal_or_abort(context))
            try:
                async for item in inner_stream(request, context):
                    yield item
            finally:
                with contextlib.suppress(ValueError):
                    _PRINCIPAL.reset(token)

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    raise TypeError("the public API has no client-streaming RPCs")
