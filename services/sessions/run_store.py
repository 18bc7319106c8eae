"""Runs over SQL (docs/rhone-ws-v1.md, "Runs"), written once for both backends.

A run's row holds its state; run_events holds its event log, numbered from 1 with no gap. An
append takes the run's row lock (a no-op UPDATE, as sessions do), checks the run's status,
numbers the events on from last_seq and applies the state change, all in one transaction: so
two facades racing to resume, cancel or expire one run cannot both win, and a reader that
asks for the events after N gets each event exactly once, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rhone.v1 import runs_pb2 as pb
from services.sessions.backends.base import Database, Queries, Row
from services.sessions.store import now_ms

RUN_COLUMNS = (
    "tenant_id, id, session_id, shape, body_json, status, steps, max_steps, pending_json, "
    "deadline_ms, last_seq, created_at_ms, updated_at_ms"
)
MAX_EVENTS_PAGE = 500


class RunNotFound(Exception):
    """No run with that id for that tenant."""


class RunExists(Exception):
    """The tenant already has a run with that id."""


class RunConflict(Exception):
    """The run's status is not one the caller required (another replica moved it on)."""


@dataclass(frozen=True, slots=True)
class RunChanges:
    status: str | None = None
    steps: int | None = None
    pending_json: str | None = None
    deadline_ms: int | None = None


def run_from_row(row: Row) -> pb.Run:
    return pb.Run(
        id=row["id"],
        tenant_id=row["tenant_id"],
        session_id=row["session_id"],
        surface=row["shape"],  # the column keeps the field's first name
        body_json=row["body_json"],
        status=row["status"],
        steps=int(row["steps"]),
        max_steps=int(row["max_steps"]),
        pending_json=row["pending_json"],
        deadline_ms=int(row["deadline_ms"]),
        last_seq=int(row["last_seq"]),
        created_at_ms=int(row["created_at_ms"]),
        updated_at_ms=int(row["updated_at_ms"]),
    )


def numbered(event: bytes, seq: int) -> bytes:
    """The event with its sequence number as its last field (events are JSON objects)."""
    head = event.rstrip()
    if not head.endswith(b"}"):
        raise ValueError("a run event must be a JSON object")
    body = head[:-1].rstrip()
    separator = b"" if body.endswith(b"{") else b","
    return body + separator + b'"seq":' + str(seq).encode() + b"}"


class SqlRunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_run(
        self,
        tenant_id: str,
        run_id: str,
        *,
        session_id: str,
        surface: str,
        body_json: str,
        max_steps: int,
        first_event: bytes,
    ) -> pb.Run:
        now = now_ms()
        async with self.db.transaction() as tx:
            taken = await tx.fetchone(
                "SELECT id FROM runs WHERE tenant_id = ? AND id = ?", tenant_id, run_id
            )
            if taken is not None:
                raise RunExists(run_id)
            await tx.execute(
                f"INSERT INTO runs ({RUN_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, 'running', 0, ?, '[]', 0, 1, ?, ?)",
                tenant_id,
                run_id,
                session_id,
                surface,
                body_json,
                max_steps,
                now,
                now,
            )
            await tx.execute(
                "INSERT INTO run_events (tenant_id, run_id, seq, event) VALUES (?, ?, 1, ?)",
                tenant_id,
                run_id,
                numbered(first_event, 1),
            )
            return run_from_row(await _row(tx, tenant_id, run_id))

    async def get_run(self, tenant_id: str, run_id: str) -> pb.Run:
        return run_from_row(await _row(self.db, tenant_id, run_id))

    async def append(
        self,
        tenant_id: str,
        run_id: str,
        events: Sequence[bytes],
        changes: RunChanges,
        require_status: Sequence[str] = (),
    ) -> pb.Run:
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE runs SET last_seq = last_seq WHERE tenant_id = ? AND id = ? "
                f"RETURNING {RUN_COLUMNS}",
                tenant_id,
                run_id,
            )
            if row is None:
                raise RunNotFound(run_id)
            if require_status and row["status"] not in require_status:
                raise RunConflict(run_id)
            seq = int(row["last_seq"])
            if events:
                rows = [
                    (tenant_id, run_id, seq + i, numbered(event, seq + i))
                    for i, event in enumerate(events, start=1)
                ]
                await tx.executemany(
                    "INSERT INTO run_events (tenant_id, run_id, seq, event) VALUES (?, ?, ?, ?)",
                    rows,
                )
            sets, args = ["last_seq = ?", "updated_at_ms = ?"], list[Any]([seq + len(events)])
            args.append(now_ms())
            for column in ("status", "steps", "pending_json", "deadline_ms"):
                value = getattr(changes, column)
                if value is not None:
                    sets.append(f"{column} = ?")
                    args.append(value)
            await tx.execute(
                f"UPDATE runs SET {', '.join(sets)} WHERE tenant_id = ? AND id = ?",
                *args,
                tenant_id,
                run_id,
            )
            return run_from_row(await _row(tx, tenant_id, run_id))

    async def events_after(
        self, tenant_id: str, run_id: str, after_seq: int, limit: int
    ) -> tuple[pb.Run, list[pb.RunEvent]]:
        """The run and its events after `after_seq`, read together: the run's last_seq is at
        least the last event's."""
        size = MAX_EVENTS_PAGE if limit <= 0 else min(limit, MAX_EVENTS_PAGE)
        async with self.db.transaction() as tx:
            run = run_from_row(await _row(tx, tenant_id, run_id))
            rows = await tx.fetchall(
                "SELECT seq, event FROM run_events WHERE tenant_id = ? AND run_id = ? "
                "AND seq > ? ORDER BY seq LIMIT ?",
                tenant_id,
                run_id,
                after_seq,
                size,
            )
        return run, [pb.RunEvent(seq=int(r["seq"]), event=bytes(r["event"])) for r in rows]


async def _row(queries: Queries, tenant_id: str, run_id: str) -> Row:
    row = await queries.fetchone(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = ? AND id = ?", tenant_id, run_id
    )
    if row is None:
        raise RunNotFound(run_id)
    return row
