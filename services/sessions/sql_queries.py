"""The statements the SQL store is made of, one function each, over any `Queries` (the
database or an open transaction): row readers, the row lock, the response lookup, and the
branch copy. Written once with `?` placeholders for both backends."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from rhone.ids import new_session_id
from rhone.jsonutil import dict_from_struct, struct_from_dict
from rhone.v1 import sessions_pb2 as pb
from services.sessions.backends.base import Queries, Row
from services.sessions.store import (
    ResponseNotFound,
    SessionNotFound,
    TurnNotFound,
    context_start_at,
    decode_instructions,
    encode_instructions,
    new_lease_id,
    now_ms,
)

SESSION_COLUMNS = (
    "id, tenant_id, version, instructions, metadata, default_model, created_at_ms, "
    "updated_at_ms, parent_id, parent_turn_id, context_start, context_policy"
)
LOCKED_COLUMNS = f"{SESSION_COLUMNS}, lease_id, lease_expires_ms"
TURN_COLUMNS = "session_id, seq, body"


def session_from_row(row: Row) -> pb.Session:
    return pb.Session(
        id=row["id"],
        tenant_id=row["tenant_id"],
        version=row["version"],
        instructions=decode_instructions(row["instructions"]),
        metadata=struct_from_dict(orjson.loads(row["metadata"] or "{}")),
        default_model=row["default_model"],
        created_at_ms=row["created_at_ms"],
        updated_at_ms=row["updated_at_ms"],
        parent_id=row["parent_id"],
        parent_turn_id=row["parent_turn_id"],
        context_policy_json=row["context_policy"],
    )


def turn_from_blob(blob: bytes) -> pb.Turn:
    turn = pb.Turn()
    turn.ParseFromString(bytes(blob))
    return turn


def turn_from_row(row: Row) -> pb.Turn:
    """A stored turn; a branch's copy shares its parent's body, so the row says where it is."""
    turn = turn_from_blob(row["body"])
    turn.session_id = row["session_id"]
    turn.seq = row["seq"]
    return turn


# The response lookup repeats the partial index's predicate (`response_id <> ''`): with a
# parameter for the id, neither SQLite nor PostgreSQL can prove it and would skip the index.
FIND_RESPONSE = (
    "SELECT t.session_id, t.seq, t.body, s.version FROM turns t "
    "JOIN sessions s ON s.id = t.session_id "
    "WHERE t.response_id = ? AND t.response_id <> '' AND s.tenant_id = ? "
    "ORDER BY t.created_at_ms DESC, t.seq DESC LIMIT 1"
)


async def session_row(q: Queries, tenant_id: str, session_id: str) -> Row:
    row = await q.fetchone(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ? AND tenant_id = ?",
        session_id,
        tenant_id,
    )
    if row is None:
        raise SessionNotFound(session_id)
    return row


async def lock_session(tx: Queries, tenant_id: str, session_id: str, response_id: str = "") -> Row:
    """The session's row, locked until the transaction ends. A no-op UPDATE is the one row
    lock both backends take (SQLite has no SELECT ... FOR UPDATE; its transactions are
    serialized anyway)."""
    row = await tx.fetchone(
        "UPDATE sessions SET version = version WHERE id = ? AND tenant_id = ? "
        f"RETURNING {LOCKED_COLUMNS}",
        session_id,
        tenant_id,
    )
    if row is None:
        # Deleted since its response was found: the response is gone with it.
        raise ResponseNotFound(response_id) if response_id else SessionNotFound(session_id)
    return row


async def seq_of_turn(q: Queries, session: Row, turn_id: str) -> int:
    """The seq of a turn of the session; the latest when turn_id is empty."""
    if not turn_id:
        return int(session["version"])
    row = await q.fetchone(
        "SELECT seq FROM turns WHERE session_id = ? AND id = ?", session["id"], turn_id
    )
    if row is None:
        raise TurnNotFound(turn_id, session["id"])
    return int(row["seq"])


async def find_response(q: Queries, tenant_id: str, response_id: str, session_id: str) -> Row:
    """The turn a response id names, with its session's version. With a session id, the turn
    must belong to that session."""
    row = await q.fetchone(FIND_RESPONSE, response_id, tenant_id) if response_id else None
    if row is None or (session_id and row["session_id"] != session_id):
        raise ResponseNotFound(response_id)
    return row


async def turns_between(q: Queries, session_id: str, start: int, end: int = 0) -> list[pb.Turn]:
    """Turns with start <= seq (<= end when end is set), in order: a context is one query."""
    if end:
        rows = await q.fetchall(
            f"SELECT {TURN_COLUMNS} FROM turns WHERE session_id = ? AND seq >= ? AND seq <= ? "
            "ORDER BY seq",
            session_id,
            start,
            end,
        )
    else:
        rows = await q.fetchall(
            f"SELECT {TURN_COLUMNS} FROM turns WHERE session_id = ? AND seq >= ? ORDER BY seq",
            session_id,
            start,
        )
    return [turn_from_row(row) for row in rows]


async def branch_start(q: Queries, session: Row, seq: int) -> int:
    """Where the context of the session cut after `seq` starts. The session's own start when
    that is not past the cut (the common case, no query); else the last snapshot at or
    before the cut, found by reading back from it."""
    if session["context_start"] <= seq:
        return int(session["context_start"])
    rows = await q.fetchall(
        f"SELECT {TURN_COLUMNS} FROM turns WHERE session_id = ? AND seq <= ? ORDER BY seq DESC",
        session["id"],
        seq,
    )
    return context_start_at([turn_from_row(row) for row in rows])


@dataclass(slots=True)
class Branch:
    """A new branch: its session, its lease (when one was asked for), its context's start."""

    session: pb.Session
    lease_id: str
    context_start: int


async def branch_at(tx: Queries, parent: Row, seq: int, *, lease_ms: int) -> Branch:
    """A new session holding copies of the parent's turns 1..seq, its settings and lineage."""
    parent_turn_id = ""
    if seq:
        row = await tx.fetchone(
            "SELECT id FROM turns WHERE session_id = ? AND seq = ?", parent["id"], seq
        )
        parent_turn_id = "" if row is None else str(row["id"])
    start = await branch_start(tx, parent, seq)
    template = session_from_row(parent)
    template.parent_id = parent["id"]
    template.parent_turn_id = parent_turn_id
    template.version = seq
    session, lease_id = await insert_session(tx, template, lease_ms=lease_ms, context_start=start)
    await tx.execute(
        "INSERT INTO turns (session_id, seq, id, response_id, body, created_at_ms) "
        "SELECT ?, seq, id, '', body, created_at_ms FROM turns "
        "WHERE session_id = ? AND seq <= ?",
        session.id,
        parent["id"],
        seq,
    )
    return Branch(session=session, lease_id=lease_id, context_start=start)


def session_insert(now_ms_sql: str) -> str:
    """The INSERT of a new session's row (session_values's order). Run again after a lost
    connection, the insert that was kept is not doubled; an id taken makes it insert nothing."""
    return (
        "INSERT INTO sessions (id, tenant_id, version, instructions, metadata, default_model, "
        "created_at_ms, updated_at_ms, parent_id, parent_turn_id, context_start, lease_id, "
        "lease_expires_ms, context_policy) VALUES "
        f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {now_ms_sql} + ?, ?) "
        "ON CONFLICT (id) DO NOTHING"
    )


def session_values(
    session: pb.Session, *, context_start: int, lease_id: str | None, lease_ms: int
) -> tuple[object, ...]:
    """A new session's row (its id and timestamps set), for session_insert."""
    return (
        session.id,
        session.tenant_id,
        session.version,
        encode_instructions(list(session.instructions)),
        orjson.dumps(dict_from_struct(session.metadata)).decode(),
        session.default_model,
        session.created_at_ms,
        session.updated_at_ms,
        session.parent_id,
        session.parent_turn_id,
        context_start,
        lease_id,
        lease_ms,
        session.context_policy_json,
    )


async def insert_session(
    q: Queries, template: pb.Session, *, lease_ms: int, context_start: int = 0
) -> tuple[pb.Session, str]:
    """A new session like `template` (tenant, settings, lineage, version) with a fresh id and
    timestamps, leased when lease_ms is set (until the database's now + lease_ms)."""
    now = now_ms()
    session = pb.Session()
    session.CopyFrom(template)
    session.id = new_session_id(now)
    session.created_at_ms = session.updated_at_ms = now
    lease_id = new_lease_id() if lease_ms else None
    await q.execute(
        session_insert(q.now_ms_sql),
        *session_values(session, context_start=context_start, lease_id=lease_id, lease_ms=lease_ms),
    )
    return session, lease_id or ""
