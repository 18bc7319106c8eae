"""Who calls the public gRPC API: the tenant of the API key in the `authorization` metadata
(`Bearer <key>`), resolved by the facade's Authenticator exactly as for HTTP. It is never read
from a request body. The servicers read it with `current_tenant()`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from rhone.errors import RhoneError
from rhone.runtime.service_identity import HEALTH_SERVICE
from services.facade.auth import Authenticator
from services.facade.grpc_api.errors import abort_with

_TENANT: ContextVar[str] = ContextVar("rhone_public_grpc_tenant")
# Reflection tells what the API is, never a tenant's data; health is for probes.
OPEN_SERVICES = frozenset({HEALTH_SERVICE, "grpc.reflection.v1alpha.ServerReflection"})


def current_tenant() -> str:
    """The calling tenant; set for every call that reached a servicer."""
    return _TENANT.get()


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
        return _with_tenant(handler, lambda: self._tenant_of_key(key))

    async def _tenant_of_key(self, key: str) -> str:
        return (await self._auth.principal_of_key(key)).tenant_id


def _with_tenant(
    handler: grpc.RpcMethodHandler, resolve: Callable[[], Awaitable[str]]
) -> grpc.RpcMethodHandler:
    """The same handler, run with the caller's tenant set (only unary requests exist here)."""

    async def tenant_or_abort(context: grpc.aio.ServicerContext) -> str:
        try:
            return await resolve()
        except RhoneError as exc:
            await abort_with(context, exc.failure)

    if handler.unary_unary is not None:
        inner_unary = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            token = _TENANT.set(await tenant_or_abort(context))
            try:
                return await inner_unary(request, context)
            finally:
                with contextlib.suppress(ValueError):
                    _TENANT.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = _TENANT.set(await tenant_or_abort(context))
            try:
                async for item in inner_stream(request, context):
                    yield item
            finally:
                with contextlib.suppress(ValueError):
                    _TENANT.reset(token)

        return grpc.unary_stream_rpc_method_handler(
            stream,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    raise TypeError("the public API has no client-streaming RPCs")
