"""TenancyService (internal, for the facades) and AdminService (operators) over gRPC.

AdminService callers present the admin key (`authorization: Bearer <RHONE_ADMIN_KEY>`); a
tenant's key there is PERMISSION_DENIED, anything else UNAUTHENTICATED. Store errors become
NOT_FOUND, ALREADY_EXISTS and INVALID_ARGUMENT, which the facade's admin routes turn into
404, 409 and 400."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import grpc

from rhone.rpc_errors import abort, answering
from rhone.v1 import admin_pb2 as apb
from rhone.v1 import admin_pb2_grpc, tenancy_pb2_grpc
from rhone.v1 import tenancy_pb2 as tpb
from services.sessions.backends.base import Database
from services.sessions.key_hashing import KeyHasher, server_secret
from services.sessions.store import InvalidRequest
from services.sessions.tenancy_errors import KeyNotFound, TenantExists, TenantNotFound
from services.sessions.tenancy_store import TenancyStore
from services.sessions.usage_store import UsageStore

ACTOR_KEY = "x-rhone-actor"
TENANCY_SERVICE_NAMES = [
    tpb.DESCRIPTOR.services_by_name["TenancyService"].full_name,
    apb.DESCRIPTOR.services_by_name["AdminService"].full_name,
]
_ERRORS = (TenantNotFound, TenantExists, KeyNotFound, InvalidRequest)


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str, str]:
    """(code, message, detail) for a tenancy store exception. No detail: the facade's admin
    routes name each status's error themselves."""
    if isinstance(exc, TenantNotFound):
        return grpc.StatusCode.NOT_FOUND, f"No tenant found with id '{exc}'.", ""
    if isinstance(exc, KeyNotFound):
        return grpc.StatusCode.NOT_FOUND, f"No key found with id '{exc}'.", ""
    if isinstance(exc, TenantExists):
        return grpc.StatusCode.ALREADY_EXISTS, f"Tenant '{exc}' exists already.", ""
    return grpc.StatusCode.INVALID_ARGUMENT, str(exc), ""


_answers = answering(_ERRORS, status_of)


class TenancyServicer(tenancy_pb2_grpc.TenancyServiceServicer):
    def __init__(self, tenancy: TenancyStore, usage: UsageStore) -> None:
        self.tenancy = tenancy
        self.usage = usage

    async def ResolveKey(
        self, request: tpb.ResolveKeyRequest, context: grpc.aio.ServicerContext
    ) -> tpb.ResolvedKey:
        resolved = await self.tenancy.resolve(request.api_key)
        if resolved is None:
            # Named, so that the facade tells a wrong key from its own service identity refused.
            await abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "Incorrect API key provided.",
                "invalid_api_key",
            )
        return resolved

    async def GetKeysVersion(
        self, request: tpb.GetKeysVersionRequest, context: grpc.aio.ServicerContext
    ) -> tpb.KeysVersion:
        return tpb.KeysVersion(version=await self.tenancy.keys_version())

    async def RecordUsage(
        self, request: tpb.RecordUsageRequest, context: grpc.aio.ServicerContext
    ) -> tpb.RecordUsageResponse:
        await self.usage.record(list(request.records))
        return tpb.RecordUsageResponse()

    @_answers
    async def QueryUsage(
        self, request: tpb.QueryUsageRequest, context: grpc.aio.ServicerContext
    ) -> tpb.QueryUsageResponse:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required.")
        return await _query_usage(self.usage, request)


async def _query_usage(usage: UsageStore, request: tpb.QueryUsageRequest) -> tpb.QueryUsageResponse:
    rows = await usage.query(request.tenant_id, request.start_ms, request.end_ms, request.group_by)
    return tpb.QueryUsageResponse(rows=rows)


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, tenancy: TenancyStore, usage: UsageStore, admin_key: str) -> None:
        self.tenancy = tenancy
        self.usage = usage
        self._admin_key = admin_key

    async def _actor(self, context: grpc.aio.ServicerContext) -> str:
        """Who is calling: the admin credential and the label the caller gives itself."""
        metadata = dict(context.invocation_metadata() or ())
        scheme, _, token = str(metadata.get("authorization", "")).partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if self._admin_key and token and hmac.compare_digest(token, self._admin_key):
            label = str(metadata.get(ACTOR_KEY, "")).strip()[:100]
            return f"admin:{label}" if label else "admin"
        if token and await self.tenancy.resolve(token) is not None:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "A tenant's API key cannot use the admin API; use the admin key.",
            )
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "The admin API needs the admin key (RHONE_ADMIN_KEY) as 'Authorization: Bearer'."
            if self._admin_key
            else "The admin API is off: set RHONE_ADMIN_KEY.",
        )
        raise AssertionError("abort returns by raising")  # pragma: no cover

    @_answers
    async def CreateTenant(
        self, request: apb.CreateTenantRequest, context: grpc.aio.ServicerContext
    ) -> tpb.Tenant:
        actor = await self._actor(context)
        return await self.tenancy.create_tenant(request, actor)

    async def ListTenants(
        self, request: apb.ListTenantsRequest, context: grpc.aio.ServicerContext
    ) -> apb.ListTenantsResponse:
        await self._actor(context)
        tenants = await self.tenancy.list_tenants(request.include_deleted)
        return apb.ListTenantsResponse(tenants=tenants)

    @_answers
    async def GetTenant(
        self, request: apb.GetTenantRequest, context: grpc.aio.ServicerContext
    ) -> tpb.Tenant:
        await self._actor(context)
        return await self.tenancy.get_tenant(request.id)

    @_answers
    async def UpdateTenant(
        self, request: apb.UpdateTenantRequest, context: grpc.aio.ServicerContext
    ) -> tpb.Tenant:
        actor = await self._actor(context)
        return await self.tenancy.update_tenant(request, actor)

    @_answers
    async def DeleteTenant(
        self, request: apb.DeleteTenantRequest, context: grpc.aio.ServicerContext
    ) -> tpb.Tenant:
        actor = await self._actor(context)
        return await self.tenancy.delete_tenant(request.id, request.delete_sessions, actor)

    @_answers
    async def CreateKey(
        self, request: apb.CreateKeyRequest, context: grpc.aio.ServicerContext
    ) -> tpb.ApiKey:
        actor = await self._actor(context)
        return await self.tenancy.create_key(request, actor)

    @_answers
    async def ListKeys(
        self, request: apb.ListKeysRequest, context: grpc.aio.ServicerContext
    ) -> apb.ListKeysResponse:
        await self._actor(context)
        if request.tenant_id:
            await self.tenancy.get_tenant(request.tenant_id)
        keys = await self.tenancy.list_keys(request.tenant_id, request.include_revoked)
        return apb.ListKeysResponse(keys=keys)

    @_answers
    async def GetKey(
        self, request: apb.GetKeyRequest, context: grpc.aio.ServicerContext
    ) -> tpb.ApiKey:
        await self._actor(context)
        return await self.tenancy.get_key(request.id)

    @_answers
    async def UpdateKey(
        self, request: apb.UpdateKeyRequest, context: grpc.aio.ServicerContext
    ) -> tpb.ApiKey:
        actor = await self._actor(context)
        return await self.tenancy.update_key(request, actor)

    @_answers
    async def RevokeKey(
        self, request: apb.RevokeKeyRequest, context: grpc.aio.ServicerContext
    ) -> tpb.ApiKey:
        actor = await self._actor(context)
        return await self.tenancy.revoke_key(request.id, actor)

    @_answers
    async def RotateKey(
        self, request: apb.RotateKeyRequest, context: grpc.aio.ServicerContext
    ) -> tpb.ApiKey:
        actor = await self._actor(context)
        return await self.tenancy.rotate_key(request.id, request.grace_s, actor)

    async def ListAudit(
        self, request: apb.ListAuditRequest, context: grpc.aio.ServicerContext
    ) -> apb.ListAuditResponse:
        await self._actor(context)
        entries = await self.tenancy.list_audit(request.tenant_id, request.start_ms, request.limit)
        return apb.ListAuditResponse(entries=entries)

    @_answers
    async def QueryUsage(
        self, request: tpb.QueryUsageRequest, context: grpc.aio.ServicerContext
    ) -> tpb.QueryUsageResponse:
        await self._actor(context)
        return await _query_usage(self.usage, request)


async def open_tenancy(db: Database, configured_secret: str) -> TenancyStore:
    """The tenancy store over the sessions database, with the server's hashing secret."""
    return TenancyStore(db, KeyHasher(await server_secret(db, configured_secret)))


def tenancy_services(
    tenancy: TenancyStore, usage: UsageStore, admin_key: str
) -> Callable[[grpc.aio.Server], None]:
    """Registers TenancyService and AdminService on a server."""

    def register(server: grpc.aio.Server) -> None:
        tenancy_pb2_grpc.add_TenancyServiceServicer_to_server(
            TenancyServicer(tenancy, usage), server
        )
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            AdminServicer(tenancy, usage, admin_key), server
        )

    return register
