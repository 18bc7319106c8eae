"""The session store over SQL, written once for both backends.

Concurrency: a call takes a session's lease in one conditional UPDATE (begin_turn) and gives
it back when it appends its turn (commit_turn) or gives up (abort_turn). A second call on a
busy session gets SessionBusy at once, before any generation starts; a crashed holder's lease
expires. Appends bump the session's version in the same transaction that inserts the turn.

Branches: a branch holds copies of its parent's turns up to the branch point (same turn ids,
same bodies), so loading its context stays one query and deleting the parent leaves it whole.
A copy's `response_id` column is empty: a response id names the one turn that answered it."""

from __future__ import annotations

from typing import Any

import orjson

from rhone.jsonutil import struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as pb
from services.sessions.backends.base import Database, Queries, Row
from services.sessions.migrations import migrate
from services.sessions.store import (
    Begun,
    FoundTurn,
    InvalidRequest,
    LeaseLost,
    Loaded,
    ResponseNotFound,
    SessionBusy,
    SessionChanges,
    SessionNotFound,
    SessionPage,
    TurnNotFound,
    context_of,
    context_start_at,
    decode_cursor,
    decode_instructions,
    encode_cursor,
    encode_instructions,
    hash_key,
    new_lease_id,
    new_session_id,
    new_turn_id,
    now_ms,
)

_SESSION_COLUMNS = (
    "id, tenant_id, version, instructions, metadata, default_model, created_at_ms, "
    "updated_at_ms, parent_id, parent_turn_id, context_start"
)


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


DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_TURN_COLUMNS = "session_id, seq, body"

# The response lookup repeats the partial index's predicate (`response_id <> ''`): with a
# parameter for the id, neither SQLite nor PostgreSQL can prove it and would skip the index.
_FIND_RESPONSE = (
    "SELECT t.session_id, t.seq, t.body, s.version FROM turns t "
    "JOIN sessions s ON s.id = t.session_id "
    "WHERE t.response_id = ? AND t.response_id <> '' AND s.tenant_id = ? "
    "ORDER BY t.created_at_ms DESC, t.seq DESC LIMIT 1"
)


class SqlSessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self) -> None:
        await self.db.connect()
        await migrate(self.db)

    async def close(self) -> None:
        await self.db.disconnect()

    # keys

    async def put_api_key(self, tenant_id: str, api_key: str) -> None:
        await self.db.execute(
            "INSERT INTO api_keys (key_hash, tenant_id, created_at_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (key_hash) DO UPDATE SET tenant_id = excluded.tenant_id",
            hash_key(api_key),
            tenant_id,
            now_ms(),
        )

    async def resolve_api_key(self, api_key: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT tenant_id FROM api_keys WHERE key_hash = ?", hash_key(api_key)
        )
        return None if row is None else str(row["tenant_id"])

    # sessions

    async def create_session(
        self,
        tenant_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        instructions: list[content.Message] | None = None,
        default_model: str = "",
        lease_ms: int = 0,
    ) -> pb.Session:
        template = pb.Session(
            tenant_id=tenant_id,
            instructions=instructions or [],
            metadata=struct_from_dict(metadata or {}),
            default_model=default_model,
        )
        session, _ = await _insert_session(self.db, template, lease_ms=lease_ms)
        return session

    async def get_session(self, tenant_id: str, session_id: str) -> pb.Session:
        return session_from_row(await _session_row(self.db, tenant_id, session_id))

    async def list_sessions(self, tenant_id: str, page_size: int, cursor: str) -> SessionPage:
        """Newest first, keyset-paginated on the (tenant_id, created_at_ms, id) index."""
        size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
        where, args = "tenant_id = ?", [tenant_id]
        if cursor:
            millis, after_id = decode_cursor(cursor)
            where += " AND (created_at_ms < ? OR (created_at_ms = ? AND id < ?))"
            args += [millis, millis, after_id]
        rows = await self.db.fetchall(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE {where} "
            "ORDER BY created_at_ms DESC, id DESC LIMIT ?",
            *args,
            size + 1,
        )
        sessions = [session_from_row(row) for row in rows[:size]]
        more = len(rows) > size
        last = sessions[-1] if sessions else None
        next_cursor = encode_cursor(last.created_at_ms, last.id) if more and last else ""
        return SessionPage(sessions=sessions, next_cursor=next_cursor)

    async def update_session(
        self, tenant_id: str, session_id: str, changes: SessionChanges
    ) -> pb.Session:
        # The version counts turns (a turn's seq is the version it made), so an update of the
        # session's settings leaves it alone.
        sets, args = ["updated_at_ms = ?"], [now_ms()]
        if changes.metadata is not None:
            sets.append("metadata = ?")
            args.append(orjson.dumps(changes.metadata).decode())
        if changes.instructions is not None:
            sets.append("instructions = ?")
            args.append(encode_instructions(changes.instructions))
        if changes.default_model is not None:
            sets.append("default_model = ?")
            args.append(changes.default_model)
        row = await self.db.fetchone(
            f"UPDATE sessions SET {', '.join(sets)} WHERE id = ? AND tenant_id = ? "
            f"RETURNING {_SESSION_COLUMNS}",
            *args,
            session_id,
            tenant_id,
        )
        if row is None:
            raise SessionNotFound(session_id)
        return session_from_row(row)

    async def delete_session(self, tenant_id: str, session_id: str) -> None:
        """The session and its turns (ON DELETE CASCADE). A call holding its lease then fails
        to commit (LeaseLost), so nothing is written to a deleted session."""
        row = await self.db.fetchone(
            "DELETE FROM sessions WHERE id = ? AND tenant_id = ? RETURNING id",
            session_id,
            tenant_id,
        )
        if row is None:
            raise SessionNotFound(session_id)

    async def branch_session(self, tenant_id: str, session_id: str, at_turn_id: str) -> pb.Session:
        async with self.db.transaction() as tx:
            parent = await _lock_session(tx, tenant_id, session_id)
            seq = await _seq_of_turn(tx, parent, at_turn_id)
            session, _ = await _branch(tx, parent, seq, lease_ms=0)
        return session

    # turns

    async def begin_turn(
        self, tenant_id: str, session_id: str, lease_ms: int, *, from_response_id: str = ""
    ) -> Begun:
        if from_response_id:
            return await self._begin_from_response(
                tenant_id, session_id, from_response_id, lease_ms
            )
        if not session_id:
            session, lease_id = await _insert_session(
                self.db, pb.Session(tenant_id=tenant_id), lease_ms=lease_ms
            )
            return Begun(session=session, lease_id=lease_id, context=[])
        now = now_ms()
        lease_id = new_lease_id()
        row = await self.db.fetchone(
            "UPDATE sessions SET lease_id = ?, lease_expires_ms = ? "
            "WHERE id = ? AND tenant_id = ? AND (lease_id IS NULL OR lease_expires_ms < ?) "
            f"RETURNING {_SESSION_COLUMNS}",
            lease_id,
            now + lease_ms,
            session_id,
            tenant_id,
            now,
        )
        if row is None:
            await self.get_session(tenant_id, session_id)  # raises SessionNotFound
            raise SessionBusy(session_id)
        context = context_of(await _turns_between(self.db, session_id, row["context_start"]))
        return Begun(session=session_from_row(row), lease_id=lease_id, context=context)

    async def _begin_from_response(
        self, tenant_id: str, session_id: str, response_id: str, lease_ms: int
    ) -> Begun:
        """Continues the session when the response is its latest turn, else branches at it.

        One transaction that locks the response's session row: a commit racing with it waits,
        so "latest" cannot turn stale between the check and the lease, and concurrent calls
        from one older response each get a branch of their own."""
        async with self.db.transaction() as tx:
            found = await _find_response(tx, tenant_id, response_id, session_id)
            parent = await _lock_session(tx, tenant_id, found["session_id"], response_id)
            seq = int(found["seq"])
            if seq != parent["version"]:
                session, lease_id = await _branch(tx, parent, seq, lease_ms=lease_ms)
                start = session_context_start = await _branch_start(tx, parent, seq)
                del session_context_start
                turns = await _turns_between(tx, session.id, start)
                return Begun(session=session, lease_id=lease_id, context=context_of(turns))
            now = now_ms()
            if parent["lease_id"] is not None and parent["lease_expires_ms"] >= now:
                raise SessionBusy(parent["id"])
            lease_id = new_lease_id()
            row = await tx.fetchone(
                "UPDATE sessions SET lease_id = ?, lease_expires_ms = ? WHERE id = ? "
                f"RETURNING {_SESSION_COLUMNS}",
                lease_id,
                now + lease_ms,
                parent["id"],
            )
            assert row is not None  # locked above
            turns = await _turns_between(tx, parent["id"], parent["context_start"])
        return Begun(session=session_from_row(row), lease_id=lease_id, context=context_of(turns))

#CONTINUE
def open_store(database_url: str) -> SqlSessionStore:
    """The store for a database URL: sqlite:///path (or sqlite:///:memory:), postgresql://..."""
    if database_url.startswith("sqlite:///"):
        from services.sessions.backends.sqlite import SqliteDatabase

        return SqlSessionStore(SqliteDatabase(database_url.removeprefix("sqlite:///")))
    if database_url.startswith(("postgresql://", "postgres://")):
        from services.sessions.backends.postgres import PostgresDatabase

        return SqlSessionStore(PostgresDatabase(database_url))
    raise ValueError("RHONE_DATABASE_URL must start with sqlite:/// or postgresql://")
