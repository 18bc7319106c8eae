"""Usage records over SQL: one row per call (written in batches by the facades), summed by
model, key, day, tenant or surface for the usage APIs and the budgets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rhone.v1 import tenancy_pb2 as tpb
from services.sessions.backends.base import Database
from services.sessions.store import InvalidRequest, now_ms

_DAY_MS = 86_400_000
_GROUPS = {
    "": "''",
    "model": "model",
    "key": "key_id",
    "tenant": "tenant_id",
    "day": "day",
    "surface": "surface",
}
_COLUMNS = (
    "id, tenant_id, key_id, session_id, surface, model, provider, input_tokens, "
    "cached_input_tokens, output_tokens, reasoning_tokens, cost_usd, latency_ms, ttft_ms, "
    "status, http_status, error_code, created_at_ms"
)


class UsageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, records: Sequence[tpb.UsageRecord]) -> None:
        """Idempotent by record id: a batch sent twice (a retry) is counted once."""
        if not records:
            return
        placeholders = ", ".join("?" * 18)
        await self.db.executemany(
            f"INSERT INTO usage_records ({_COLUMNS}) VALUES ({placeholders}) "
            "ON CONFLICT (id) DO NOTHING",
            [_row(record) for record in records],
        )

    async def query(
        self, tenant_id: str, start_ms: int, end_ms: int, group_by: str
    ) -> list[tpb.UsageRow]:
        if group_by not in _GROUPS:
            raise InvalidRequest(
                f"group_by must be one of {', '.join(g for g in _GROUPS if g)} (or empty)."
            )
        end_ms = end_ms or now_ms() + 1
        group = "created_at_ms / 86400000" if group_by == "day" else _GROUPS[group_by]
        where, args = "created_at_ms >= ? AND created_at_ms < ?", list[Any]([start_ms, end_ms])
        if tenant_id:
            where += " AND tenant_id = ?"
            args.append(tenant_id)
        rows = await self.db.fetchall(
            f"SELECT {group} AS grp, COUNT(*) AS calls, "
            "SUM(CASE WHEN status = 1 THEN 0 ELSE 1 END) AS failed_calls, "
            "SUM(input_tokens) AS input_tokens, SUM(cached_input_tokens) AS cached_input_tokens, "
            "SUM(output_tokens) AS output_tokens, SUM(reasoning_tokens) AS reasoning_tokens, "
            f"SUM(cost_usd) AS cost_usd FROM usage_records WHERE {where}"
            + (f" GROUP BY {group} ORDER BY {group}" if group_by else ""),
            *args,
        )
        return [
            tpb.UsageRow(
                group=_group_label(group_by, row["grp"]),
                calls=int(row["calls"]),
                failed_calls=int(row["failed_calls"] or 0),
                input_tokens=int(row["input_tokens"] or 0),
                cached_input_tokens=int(row["cached_input_tokens"] or 0),
                output_tokens=int(row["output_tokens"] or 0),
                reasoning_tokens=int(row["reasoning_tokens"] or 0),
                cost_usd=float(row["cost_usd"] or 0),
            )
            for row in rows
        ]


def _group_label(group_by: str, value: Any) -> str:
    if group_by == "day":
        return datetime.fromtimestamp(int(value) * _DAY_MS / 1000, UTC).strftime("%Y-%m-%d")
    return "" if value is None else str(value)


def _row(record: tpb.UsageRecord) -> tuple[Any, ...]:
    usage = record.usage
    return (
        record.id,
        record.tenant_id,
        record.key_id,
        record.session_id,
        record.surface,
        record.model,
        record.provider,
        usage.input_tokens,
        usage.cached_input_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
        record.cost_usd,
        record.latency_ms,
        record.ttft_ms,
        int(record.status),
        record.http_status,
        record.error_code,
        record.created_at_ms or now_ms(),
    )
