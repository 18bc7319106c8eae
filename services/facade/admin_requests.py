"""The admin API's JSON bodies and query strings as AdminService requests (pure): each field
checked here so that a 400 names it. Times are Unix seconds (or ISO 8601 in query strings)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rhone.errors import RhoneError
from rhone.jsonutil import refuse_unknown, struct_from_dict
from rhone.tenancy import budget_from, limits_from_dict, models_from_list
from rhone.v1 import admin_pb2 as apb

_TENANT_FIELDS = {"id", "name", "metadata", "limits", "models", "monthly_budget_usd"}
_KEY_FIELDS = {"name", "limits", "models", "expires_at", "monthly_budget_usd"}


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name) or ""
    if not isinstance(value, str):
        raise RhoneError.invalid(f"{name} must be a string.", param=name)
    return value


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("metadata") or {}
    if not isinstance(value, dict):
        raise RhoneError.invalid("metadata must be an object.", param="metadata")
    return value


def _seconds(value: Any, name: str) -> int:
    """Unix seconds (a number) as milliseconds; null or 0: never."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RhoneError.invalid(f"{name} must be Unix seconds (or null).", param=name)
    return int(value * 1000)


def create_tenant(body: dict[str, Any]) -> apb.CreateTenantRequest:
    refuse_unknown(body, _TENANT_FIELDS)
    request = apb.CreateTenantRequest(
        id=_string(body, "id"),
        name=_string(body, "name"),
        metadata=struct_from_dict(_metadata(body)),
        limits=limits_from_dict(body.get("limits")),
        models=models_from_list(body.get("models")),
    )
    if not request.id:
        raise RhoneError.invalid("id is required.", param="id")
    if (budget := budget_from(body.get("monthly_budget_usd"))) is not None:
        request.monthly_budget_usd = budget
    return request


def update_tenant(tenant_id: str, body: dict[str, Any]) -> apb.UpdateTenantRequest:
    refuse_unknown(body, _TENANT_FIELDS - {"id"})
    request = apb.UpdateTenantRequest(id=tenant_id)
    if "name" in body:
        request.name = _string(body, "name")
    if "metadata" in body:
        request.metadata.CopyFrom(struct_from_dict(_metadata(body)))
    _common(request, body)
    return request


def create_key(tenant_id: str, body: dict[str, Any]) -> apb.CreateKeyRequest:
    refuse_unknown(body, _KEY_FIELDS)
    request = apb.CreateKeyRequest(
        tenant_id=tenant_id,
        name=_string(body, "name"),
        limits=limits_from_dict(body.get("limits")),
        models=models_from_list(body.get("models")),
        expires_at_ms=_seconds(body.get("expires_at"), "expires_at"),
    )
    if (budget := budget_from(body.get("monthly_budget_usd"))) is not None:
        request.monthly_budget_usd = budget
    return request


def update_key(key_id: str, body: dict[str, Any]) -> apb.UpdateKeyRequest:
    refuse_unknown(body, _KEY_FIELDS)
    request = apb.UpdateKeyRequest(id=key_id)
    if "name" in body:
        request.name = _string(body, "name")
    if "expires_at" in body:
        request.expires_at_ms = _seconds(body["expires_at"], "expires_at")
    _common(request, body)
    return request


def _common(request: apb.UpdateTenantRequest | apb.UpdateKeyRequest, body: dict[str, Any]) -> None:
    if "limits" in body:
        request.limits.CopyFrom(limits_from_dict(body["limits"]))
    if "models" in body:
        request.models.CopyFrom(apb.StringList(values=models_from_list(body["models"])))
    if "monthly_budget_usd" in body:
        budget = budget_from(body["monthly_budget_usd"])
        if budget is None:
            request.clear_monthly_budget = True
        else:
            request.monthly_budget_usd = budget


def rotate_key(key_id: str, body: dict[str, Any]) -> apb.RotateKeyRequest:
    refuse_unknown(body, {"grace_s"})
    grace = body.get("grace_s", 0)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise RhoneError.invalid("grace_s must be a whole number of seconds >= 0.", param="grace_s")
    return apb.RotateKeyRequest(id=key_id, grace_s=grace)


def time_param(value: str | None, name: str) -> int:
    """A query-string time (Unix seconds, or an ISO 8601 date or time, UTC when no zone) in ms;
    absent: 0."""
    if not value:
        return 0
    try:
        return int(float(value) * 1000)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RhoneError.invalid(
            f"{name} must be Unix seconds or an ISO 8601 date or time.", param=name
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")
