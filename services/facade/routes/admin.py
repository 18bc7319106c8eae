"""The operators' API under /v1/admin: tenants, keys, usage and the audit log (docs/tenants.md).

Authenticated by the admin key (RHONE_ADMIN_KEY) as `Authorization: Bearer` or `x-api-key`; the
sessions service's AdminService checks it (so HTTP and gRPC are one API), and answers a
tenant's key with 403. JSON in and out; errors in OpenAI's shape. A caller may name itself in
`x-rhone-actor`, recorded in the audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import orjson
from fastapi import APIRouter, Request
from google.protobuf.message import Message
from starlette.responses import Response

from rhone.dialects.openai_chat import DIALECT
from rhone.errors import RhoneError
from rhone.jsonutil import dict_from_struct, loads_object
from rhone.rpc_errors import failure_of_rpc
from rhone.tenancy import key_to_dict, tenant_to_dict, usage_row_to_dict
from rhone.v1 import admin_pb2 as apb
from rhone.v1 import tenancy_pb2 as tpb
from services.facade import admin_requests as parse
from services.facade.auth import api_key_of
from services.facade.relay import error_response
from services.facade.state import FacadeState

router = APIRouter()
RPC_TIMEOUT_S = 10

Rpc = Callable[..., Awaitable[Any]]
# What the admin service's statuses mean to an admin client.
_DETAILS = {
    grpc.StatusCode.UNAUTHENTICATED: "invalid_admin_key",
    grpc.StatusCode.PERMISSION_DENIED: "admin_key_required",
    grpc.StatusCode.NOT_FOUND: "not_found",
    grpc.StatusCode.ALREADY_EXISTS: "already_exists",
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_request",
}


def _state(request: Request) -> FacadeState:
    state: FacadeState = request.app.state.rhone
    return state


async def _call(
    request: Request,
    pick: Callable[[FacadeState], Rpc],
    build: Callable[[], Message | Awaitable[Message]],
    view: Callable[[Any], Any],
    *,
    status: int = 200,
    changes_keys: bool = False,
) -> Response:
    """Builds the request (a 400 names the field), calls AdminService with the caller's
    credential, renders the answer."""
    state = _state(request)
    metadata = [("authorization", f"Bearer {_printable(api_key_of(request))}")]
    if actor := _printable(request.headers.get("x-rhone-actor", ""))[:100]:
        metadata.append(("x-rhone-actor", actor))
    try:
        message = build()
        if not isinstance(message, Message):
            message = await message
        answer = await pick(state)(message, metadata=metadata, timeout=RPC_TIMEOUT_S)
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    except grpc.aio.AioRpcError as exc:
        return error_response(DIALECT, _failure(exc))
    if changes_keys:
        state.auth.forget()
    return Response(orjson.dumps(view(answer)), status_code=status, media_type="application/json")


def _printable(value: str) -> str:
    """gRPC metadata carries printable ASCII only; anything else is no credential at all."""
    return value if value.isascii() and value.isprintable() else ""


def _failure(exc: grpc.aio.AioRpcError) -> Any:
    return failure_of_rpc(exc, service="sessions", details=_DETAILS)


async def _body(request: Request) -> dict[str, Any]:
    raw = await _state(request).relay.read_body(request)
    return loads_object(raw) if raw.strip() else {}


def _list(items: Any, view: Callable[[Any], Any]) -> dict[str, Any]:
    return {"object": "list", "data": [view(item) for item in items]}


# tenants


@router.post("/v1/admin/tenants")
async def create_tenant(request: Request) -> Response:
    async def build() -> Message:
        return parse.create_tenant(await _body(request))

    return await _call(request, lambda s: s.admin.CreateTenant, build, tenant_to_dict, status=201)


@router.get("/v1/admin/tenants")
async def list_tenants(request: Request) -> Response:
    deleted = parse.flag(request.query_params.get("include_deleted"))
    return await _call(
        request,
        lambda s: s.admin.ListTenants,
        lambda: apb.ListTenantsRequest(include_deleted=deleted),
        lambda answer: _list(answer.tenants, tenant_to_dict),
    )


@router.get("/v1/admin/tenants/{tenant_id}")
async def get_tenant(request: Request, tenant_id: str) -> Response:
    return await _call(
        request,
        lambda s: s.admin.GetTenant,
        lambda: apb.GetTenantRequest(id=tenant_id),
        tenant_to_dict,
    )


@router.patch("/v1/admin/tenants/{tenant_id}")
async def update_tenant(request: Request, tenant_id: str) -> Response:
    async def build() -> Message:
        return parse.update_tenant(tenant_id, await _body(request))

    return await _call(
        request, lambda s: s.admin.UpdateTenant, build, tenant_to_dict, changes_keys=True
    )


@router.delete("/v1/admin/tenants/{tenant_id}")
async def delete_tenant(request: Request, tenant_id: str) -> Response:
    delete_sessions = parse.flag(request.query_params.get("delete_sessions"))
    return await _call(
        request,
        lambda s: s.admin.DeleteTenant,
        lambda: apb.DeleteTenantRequest(id=tenant_id, delete_sessions=delete_sessions),
        tenant_to_dict,
        changes_keys=True,
    )


# keys


@router.post("/v1/admin/tenants/{tenant_id}/keys")
async def create_key(request: Request, tenant_id: str) -> Response:
    async def build() -> Message:
        return parse.create_key(tenant_id, await _body(request))

    return await _call(request, lambda s: s.admin.CreateKey, build, key_to_dict, status=201)


@router.get("/v1/admin/tenants/{tenant_id}/keys")
async def list_keys(request: Request, tenant_id: str) -> Response:
    revoked = parse.flag(request.query_params.get("include_revoked"))
    return await _call(
        request,
        lambda s: s.admin.ListKeys,
        lambda: apb.ListKeysRequest(tenant_id=tenant_id, include_revoked=revoked),
        lambda answer: _list(answer.keys, key_to_dict),
    )


@router.post("/v1/admin/keys/{key_id}:rotate")
async def rotate_key(request: Request, key_id: str) -> Response:
    async def build() -> Message:
        return parse.rotate_key(key_id, await _body(request))

    return await _call(request, lambda s: s.admin.RotateKey, build, key_to_dict, changes_keys=True)


@router.get("/v1/admin/keys/{key_id}")
async def get_key(request: Request, key_id: str) -> Response:
    return await _call(
        request, lambda s: s.admin.GetKey, lambda: apb.GetKeyRequest(id=key_id), key_to_dict
    )


@router.patch("/v1/admin/keys/{key_id}")
async def update_key(request: Request, key_id: str) -> Response:
    async def build() -> Message:
        return parse.update_key(key_id, await _body(request))

    return await _call(request, lambda s: s.admin.UpdateKey, build, key_to_dict, changes_keys=True)


@router.delete("/v1/admin/keys/{key_id}")
async def revoke_key(request: Request, key_id: str) -> Response:
    return await _call(
        request,
        lambda s: s.admin.RevokeKey,
        lambda: apb.RevokeKeyRequest(id=key_id),
        key_to_dict,
        changes_keys=True,
    )


# audit and usage


def audit_to_dict(entry: apb.AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at_ms / 1000,
        "actor": entry.actor,
        "action": entry.action,
        "tenant": entry.tenant_id,
        "key_id": entry.key_id or None,
        "before": dict_from_struct(entry.before) or None,
        "after": dict_from_struct(entry.after) or None,
    }


@router.get("/v1/admin/audit")
async def list_audit(request: Request) -> Response:
    query = request.query_params

    def build() -> Message:
        limit = query.get("limit", "100")
        if not limit.isdigit():
            raise RhoneError.invalid("limit must be a whole number.", param="limit")
        return apb.ListAuditRequest(
            tenant_id=query.get("tenant", ""),
            start_ms=parse.time_param(query.get("start"), "start"),
            limit=int(limit),
        )

    return await _call(
        request,
        lambda s: s.admin.ListAudit,
        build,
        lambda answer: _list(answer.entries, audit_to_dict),
    )


def usage_query(request: Request, tenant_id: str) -> tpb.QueryUsageRequest:
    query = request.query_params
    return tpb.QueryUsageRequest(
        tenant_id=tenant_id,
        start_ms=parse.time_param(query.get("start"), "start"),
        end_ms=parse.time_param(query.get("end"), "end"),
        group_by=query.get("group_by", ""),
    )


def usage_view(answer: tpb.QueryUsageResponse, group_by: str) -> dict[str, Any]:
    return {
        "object": "list",
        "group_by": group_by or None,
        "data": [usage_row_to_dict(row) for row in answer.rows],
    }


@router.get("/v1/admin/usage")
async def admin_usage(request: Request) -> Response:
    group_by = request.query_params.get("group_by", "")
    return await _call(
        request,
        lambda s: s.admin.QueryUsage,
        lambda: usage_query(request, request.query_params.get("tenant", "")),
        lambda answer: usage_view(answer, group_by),
    )
