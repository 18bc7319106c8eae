"""Tenants, keys and usage as plain JSON, both ways: what the admin API shows and accepts,
what the store keeps in its JSON columns, and what the audit log records as before/after.

Pure: the proto messages of rhone/v1/tenancy.proto in, dicts out, and back, with a clear
error for a malformed field (RhoneError.invalid names it)."""

from __future__ import annotations

import fnmatch
from typing import Any

from rhone.errors import RhoneError
from rhone.jsonutil import dict_from_struct
from rhone.v1 import tenancy_pb2 as tpb

LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "concurrent_requests")


def limits_to_dict(limits: tpb.Limits) -> dict[str, int]:
    return {name: int(getattr(limits, name)) for name in LIMIT_FIELDS if limits.HasField(name)}


def limits_from_dict(value: Any, where: str = "limits") -> tpb.Limits:
    if value is None:
        return tpb.Limits()
    if not isinstance(value, dict):
        raise RhoneError.invalid(f"{where} must be an object.", param=where)
    unknown = set(value) - set(LIMIT_FIELDS)
    if unknown:
        raise RhoneError.invalid(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(LIMIT_FIELDS)}).",
            param=where,
        )
    limits = tpb.Limits()
    for name, number in value.items():
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise RhoneError.invalid(
                f"{where}.{name} must be a whole number >= 0.", param=f"{where}.{name}"
            )
        setattr(limits, name, number)
    return limits


def models_from_list(value: Any, where: str = "models") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise RhoneError.invalid(f"{where} must be a list of model names or globs.", param=where)
    return list(value)


def budget_from(value: Any, where: str = "monthly_budget_usd") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RhoneError.invalid(f"{where} must be a number >= 0.", param=where)
    return float(value)


def model_allowed(model: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether a model name matches one of the allowed names or globs (none: every model)."""
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


def _budget(message: Any) -> float | None:
    return message.monthly_budget_usd if message.HasField("monthly_budget_usd") else None


def tenant_to_dict(tenant: tpb.Tenant) -> dict[str, Any]:
    return {
        "object": "tenant",
        "id": tenant.id,
        "name": tenant.name,
        "metadata": dict_from_struct(tenant.metadata),
        "limits": limits_to_dict(tenant.limits),
        "models": list(tenant.models),
        "monthly_budget_usd": _budget(tenant),
        "created_at": tenant.created_at_ms // 1000,
        "updated_at": tenant.updated_at_ms // 1000,
        "deleted_at": tenant.deleted_at_ms // 1000 or None,
    }


def key_to_dict(key: tpb.ApiKey) -> dict[str, Any]:
    view: dict[str, Any] = {
        "object": "api_key",
        "id": key.id,
        "tenant": key.tenant_id,
        "name": key.name,
        "prefix": key.prefix,
        "limits": limits_to_dict(key.limits),
        "models": list(key.models),
        "expires_at": key.expires_at_ms // 1000 or None,
        "monthly_budget_usd": _budget(key),
        "revoked_at": key.revoked_at_ms // 1000 or None,
        "created_at": key.created_at_ms // 1000,
        "updated_at": key.updated_at_ms // 1000,
        "source": key.source,
    }
    if key.secret:
        view["secret"] = key.secret
    return view


def usage_row_to_dict(row: tpb.UsageRow) -> dict[str, Any]:
    return {
        "group": row.group,
        "calls": row.calls,
        "failed_calls": row.failed_calls,
        "input_tokens": row.input_tokens,
        "cached_input_tokens": row.cached_input_tokens,
        "output_tokens": row.output_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "cost_usd": round(row.cost_usd, 6),
    }
