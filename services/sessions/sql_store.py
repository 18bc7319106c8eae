"""The session store over SQL, written once for both backends.

Concurrency: a call takes a session's lease in one conditional UPDATE (begin_turn) and gives
it back when it appends its turn (commit_turn) or gives up (abort_turn). A second call on a
busy session gets SessionBusy at once, before any generation starts; a crashed holder's lease
expires. Appends bump the session's version in the same transaction that inserts the turn."""

from __future__ import annotations

from typing import Any

import orjson

from rhone.jsonutil import struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as pb
from services.sessions.backends.base import Database, Row
from services.sessions.migrations import migrate
from services.sessions.store import (
    Begun,
    LeaseLost,
    SessionBusy,
    SessionNotFound,
    context_of,
    decode_instructions,
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
        lease_ms: int = 0,
    ) -> pb.Session:
        session, _ = await self._insert_session(tenant_id, metadata, instructions, lease_ms)
        return session

    async def _insert_session(
        self,
        tenant_id: str,
        metadata: dict[str, Any] | None,
        instructions: list[content.Message] | None,
        lease_ms: int,
    ) -> tuple[pb.Session, str]:
        now = now_ms()
        session_id = new_session_id()
        lease_id = new_lease_id() if lease_ms else None
        await self.db.execute(
            "INSERT INTO sessions (id, tenant_id, version, instructions, metadata, created_at_ms,"
            " updated_at_ms, lease_id, lease_expires_ms) VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?)",
            session_id,
            tenant_id,
            encode_instructions(instructions),
            orjson.dumps(metadata or {}).decode(),
            now,
            now,
            lease_id,
            now + lease_ms if lease_ms else 0,
        )
        session = pb.Session(
            id=session_id,
            tenant_id=tenant_id,
            instructions=instructions or [],
            metadata=struct_from_dict(metadata or {}),
            created_at_ms=now,
            updated_at_ms=now,
        )
        return session, lease_id or ""

    async def get_session(self, tenant_id: str, session_id: str) -> pb.Session:
        row = await self.db.fetchone(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ? AND tenant_id = ?",
            session_id,
            tenant_id,
        )
        if row is None:
            raise SessionNotFound(session_id)
        return session_from_row(row)

    # turns

    async def begin_turn(self, tenant_id: str, session_id: str, lease_ms: int) -> Begun:
        if not session_id:
            session, lease_id = await self._insert_session(tenant_id, None, None, lease_ms)
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
        turns = await self.db.fetchall(
            "SELECT body FROM turns WHERE session_id = ? AND seq >= ? ORDER BY seq",
            session_id,
            row["context_start"],
        )
        context = context_of([turn_from_blob(t["body"]) for t in turns])
        return Begun(session=session_from_row(row), lease_id=lease_id, context=context)

    async def commit_turn(
        self,
        tenant_id: str,
        session_id: str,
        lease_id: str,
        turn: pb.Turn,
        instructions: list[content.Message] | None,
    ) -> tuple[pb.Turn, int]:
        now = now_ms()
        stored = pb.Turn()
        stored.CopyFrom(turn)
        stored.session_id = session_id
        stored.id = stored.id or new_turn_id()
        stored.created_at_ms = stored.created_at_ms or now
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE sessions SET version = version + 1, lease_id = NULL, "
                "lease_expires_ms = 0, updated_at_ms = ?, "
                "context_start = CASE WHEN ? THEN version + 1 ELSE context_start END "
                "WHERE id = ? AND tenant_id = ? AND lease_id = ? RETURNING version",
                now,
                stored.snapshot,
                session_id,
                tenant_id,
                lease_id,
            )
            if row is None:
                raise LeaseLost(session_id)
            version = int(row["version"])
            stored.seq = version
            await tx.execute(
                "INSERT INTO turns (session_id, seq, id, response_id, body, created_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                session_id,
                version,
                stored.id,
                stored.response_id,
                stored.SerializeToString(),
                stored.created_at_ms,
            )
            if instructions is not None:
                await tx.execute(
                    "UPDATE sessions SET instructions = ? WHERE id = ?",
                    encode_instructions(instructions),
                    session_id,
                )
        return stored, version

    async def abort_turn(self, tenant_id: str, session_id: str, lease_id: str) -> None:
        await self.db.execute(
            "UPDATE sessions SET lease_id = NULL, lease_expires_ms = 0 "
            "WHERE id = ? AND tenant_id = ? AND lease_id = ?",
            session_id,
            tenant_id,
            lease_id,
        )

    async def list_turns(self, tenant_id: str, session_id: str) -> list[pb.Turn]:
        await self.get_session(tenant_id, session_id)
        rows = await self.db.fetchall(
            "SELECT body FROM turns WHERE session_id = ? ORDER BY seq", session_id
        )
        return [turn_from_blob(row["body"]) for row in rows]


def open_store(database_url: str) -> SqlSessionStore:
    """The store for a database URL: sqlite:///path (or sqlite:///:memory:), postgresql://..."""
    if database_url.startswith("sqlite:///"):
        from services.sessions.backends.sqlite import SqliteDatabase

        return SqlSessionStore(SqliteDatabase(database_url.removeprefix("sqlite:///")))
    if database_url.startswith(("postgresql://", "postgres://")):
        from services.sessions.backends.postgres import PostgresDatabase

        return SqlSessionStore(PostgresDatabase(database_url))
    raise ValueError("RHONE_DATABASE_URL must start with sqlite:/// or postgresql://")
