"""BeginTurn's lease and CommitTurn's append, each one round trip to the database (a unit,
backends/base.py): on PostgreSQL one statement whose CTE takes the lease (or appends) and
whose main query reads (or inserts) what it returned; on SQLite the same statements in one
hop to its thread, the second finding what the first wrote by a subquery. A call that names
no session skips BeginTurn: its CommitTurn creates the session with its first turn, one
round trip too (create_unit).

A call pays these two on every turn, so their cost is the floor of a call's cost whatever the
session's length (docs/long-sessions.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rhone.v1 import sessions_pb2 as pb
from services.sessions.backends.base import Database, Row, Step, Unit
from services.sessions.sql_queries import SESSION_COLUMNS, session_insert, session_values

# Where the context a BeginTurn sends starts, given the caller's known_version (two
# arguments: the version, or -1 for none; and the version + 1). A caller that holds the
# context as of a version the session has reached, with no snapshot after it, gets only the
# newer turns: the cost of a call does not grow with the history. Else the whole context,
# from the last snapshot.
_TURNS_FROM = "CASE WHEN ? BETWEEN context_start AND version THEN ? ELSE context_start END"
# The columns the lease statement returns.
_LEASED_COLUMNS = len(SESSION_COLUMNS.split(",")) + 1
_TURN_INSERT = (
    "INSERT INTO turns (session_id, seq, id, response_id, body, created_at_ms) "
    "SELECT id, version, ?, ?, ?, ? FROM {appended} RETURNING seq"
)


@dataclass(slots=True)
class Leased:
    """A lease taken: the session's row (its `turns_from` too) and its context's turn bodies."""

    row: Row
    bodies: list[bytes]

    @property
    def is_delta(self) -> bool:
        return int(self.row["turns_from"]) != int(self.row["context_start"])


def lease_unit(
    db: Database,
    *,
    tenant_id: str,
    session_id: str,
    lease_id: str,
    lease_ms: int,
    known_version: int,
) -> Unit:
    """Takes the session's lease when it is free, expired, or this very lease (`OR lease_id =
    ?`: the unit run again after a lost connection), and reads the context's turns."""
    now = db.now_ms_sql
    known = known_version if known_version > 0 else -1
    lease = (
        f"UPDATE sessions SET lease_id = ?, lease_expires_ms = {now} + ? "
        "WHERE id = ? AND tenant_id = ? "
        f"AND (lease_id IS NULL OR lease_expires_ms < {now} OR lease_id = ?) "
        f"RETURNING {SESSION_COLUMNS}, {_TURNS_FROM} AS turns_from"
    )
    args = (lease_id, lease_ms, session_id, tenant_id, lease_id, known, known + 1)
    if db.writable_ctes:
        # The session's row, then one per turn (the session's columns NULL there: a wide row
        # repeated per turn would cost more than the turns).
        nulls = ", ".join(["NULL"] * _LEASED_COLUMNS)
        sql = (
            f"WITH s AS ({lease}) SELECT s.*, NULL::bytea AS body, -1::bigint AS seq FROM s "
            f"UNION ALL SELECT {nulls}, t.body, t.seq FROM s JOIN turns t "
            "ON t.session_id = s.id AND t.seq >= s.turns_from ORDER BY seq"
        )
        return Unit("begin_turn", (Step(sql, args),))
    read = (
        "SELECT body FROM turns WHERE session_id = ? "
        f"AND seq >= (SELECT {_TURNS_FROM} FROM sessions WHERE id = ?) ORDER BY seq"
    )
    return Unit(
        "begin_turn",
        (
            Step(lease, args, needs_row=True),
            Step(read, (session_id, known, known + 1, session_id)),
        ),
    )


def leased(results: list[Sequence[Row]]) -> Leased | None:
    """What the lease unit returned (the session's row, then its context's turns, on either
    backend); None when the lease was not free, or there is no such session."""
    rows = [row for step in results for row in step]
    if not rows:
        return None
    return Leased(rows[0], [bytes(row["body"]) for row in rows[1:]])


def commit_unit(
    db: Database,
    *,
    tenant_id: str,
    lease_id: str,
    turn: pb.Turn,
    instructions: bytes | None,
    now_ms: int,
) -> Unit:
    """Appends `turn` (as stored: its session_id, id and created_at_ms set) as the session's
    next version and gives its lease back, in one transaction: the session's row (version,
    lease, context start, instructions when given) only while the lease is this call's, and
    the turn's row after it. Run again after its first run was kept, it returns no row (the
    lease is gone); the turn's id then tells."""
    sets = (
        "version = version + 1, lease_id = NULL, lease_expires_ms = 0, updated_at_ms = ?, "
        "context_start = CASE WHEN ? THEN version + 1 ELSE context_start END"
    )
    set_args: tuple[object, ...] = (now_ms, turn.snapshot)
    if instructions is not None:
        sets += ", instructions = ?"
        set_args += (instructions,)
    append = (
        f"UPDATE sessions SET {sets} WHERE id = ? AND tenant_id = ? AND lease_id = ? "
        "RETURNING id, version"
    )
    append_args = (*set_args, turn.session_id, tenant_id, lease_id)
    # The seq is the row's (turn_from_row): the body is kept without it.
    row = (turn.id, turn.response_id, turn.SerializeToString(), turn.created_at_ms)
    if db.writable_ctes:
        sql = f"WITH s AS ({append}) {_TURN_INSERT.format(appended='s')}"
        return Unit("commit_turn", (Step(sql, (*append_args, *row)),))
    insert = _TURN_INSERT.format(appended="sessions WHERE id = ?")
    return Unit(
        "commit_turn",
        (
            Step(append, append_args, needs_row=True),
            Step(insert, (*row, turn.session_id)),
        ),
    )


def create_unit(db: Database, *, session: pb.Session, turn: pb.Turn) -> Unit:
    """Creates `session` (its id, tenant, instructions and timestamps set; version 1, no
    lease) with `turn` (as stored) as its first: the session's row only when its id is free,
    and the turn's row after it, in one transaction. An id taken, or this very unit kept by a
    first run (the backend ran it again), returns no row; the turn's id then tells which."""
    values = session_values(
        session, context_start=1 if turn.snapshot else 0, lease_id=None, lease_ms=0
    )
    insert = session_insert(db.now_ms_sql) + " RETURNING id, version"
    row = (turn.id, turn.response_id, turn.SerializeToString(), turn.created_at_ms)
    if db.writable_ctes:
        sql = f"WITH s AS ({insert}) {_TURN_INSERT.format(appended='s')}"
        return Unit("create_turn", (Step(sql, (*values, *row)),))
    return Unit(
        "create_turn",
        (
            Step(insert, values, needs_row=True),
            Step(_TURN_INSERT.format(appended="sessions WHERE id = ?"), (*row, session.id)),
        ),
    )


def committed_seq(results: list[Sequence[Row]]) -> int | None:
    """The committed turn's seq (the session's new version); None when the lease was not the
    call's (or, creating, the id was taken)."""
    last = results[-1]  # the insert's rows, or the refused guard's none
    return int(last[0]["seq"]) if last else None
