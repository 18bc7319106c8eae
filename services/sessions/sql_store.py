"""The session store over SQL, written once for both backends.

Concurrency: a call takes a session's lease in one conditional UPDATE (begin_turn), renews
it while it streams (renew_lease), and gives it back when it appends its turn (commit_turn) or
gives up (abort_turn). A second call on a busy session gets SessionBusy at once, before any
generation starts. Leases are short and judged by the database's clock (never a replica's),
so a crashed holder's lease expires within one lease time whichever replica looks. Appends
bump the session's version in the same transaction that inserts the turn. Taking the lease
(with the context) and appending are one round trip to the database each (turn_units.py).
A call that names no session takes no lease: nobody else knows its session's id until its
commit creates the session with its first turn (commit_turn's `create`).

Every single statement and unit here is idempotent (the backend runs it again after a lost
connection; a DELETE run again after its first run was kept answers "not found", and the row
is gone as asked) and every transaction goes through `transact`, which runs it again only when
nothing of it was kept.

Branches: a branch holds copies of its parent's turns up to the branch point (same turn ids,
same bodies), so loading its context stays one query and deleting the parent leaves it whole.
A copy's `response_id` column is empty: a response id names the one turn that answered it."""

from __future__ import annotations

from typing import Any

import orjson

from rhone.ids import is_id, new_turn_id
from rhone.jsonutil import struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as pb
from services.sessions.backends.base import Database, Queries
from services.sessions.backends.timed import TimedDatabase
from services.sessions.migrations import at_startup, migrate
from services.sessions.sql_queries import (
    SESSION_COLUMNS,
    branch_at,
    branch_start,
    find_response,
    insert_session,
    lock_session,
    seq_of_turn,
    session_from_row,
    session_row,
    turn_from_blob,
    turn_from_row,
    turns_between,
)
from services.sessions.store import (
    Begun,
    FoundTurn,
    InvalidRequest,
    LeaseLost,
    Loaded,
    ResponseNotFound,
    SessionBusy,
    SessionChanges,
    SessionExists,
    SessionNotFound,
    SessionPage,
    context_of,
    decode_cursor,
    encode_cursor,
    encode_instructions,
    new_lease_id,
    now_ms,
)
from services.sessions.turn_units import (
    commit_unit,
    committed_seq,
    create_unit,
    lease_unit,
    leased,
)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class SqlSessionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self) -> None:
        """Connects and migrates. Replicas starting together on one database wait for each
        other's start-up (at_startup) instead of failing on its locks."""
        await at_startup(self.db.connect)
        await at_startup(lambda: migrate(self.db))

    async def close(self) -> None:
        await self.db.disconnect()

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
        session, _ = await insert_session(self.db, template, lease_ms=lease_ms)
        return session

    async def get_session(self, tenant_id: str, session_id: str) -> pb.Session:
        return session_from_row(await session_row(self.db, tenant_id, session_id))

    async def list_sessions(self, tenant_id: str, page_size: int, cursor: str) -> SessionPage:
        """Newest first, keyset-paginated on the (tenant_id, created_at_ms, id) index."""
        size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
        where, args = "tenant_id = ?", list[Any]([tenant_id])
        if cursor:
            millis, after_id = decode_cursor(cursor)
            where += " AND (created_at_ms < ? OR (created_at_ms = ? AND id < ?))"
            args += [millis, millis, after_id]
        rows = await self.db.fetchall(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {where} "
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
        sets, args = ["updated_at_ms = ?"], list[Any]([now_ms()])
        if changes.metadata is not None:
            sets.append("metadata = ?")
            args.append(orjson.dumps(changes.metadata).decode())
        if changes.instructions is not None:
            sets.append("instructions = ?")
            args.append(encode_instructions(changes.instructions))
        if changes.default_model is not None:
            sets.append("default_model = ?")
            args.append(changes.default_model)
        if changes.context_policy_json is not None:
            sets.append("context_policy = ?")
            args.append(changes.context_policy_json)
        row = await self.db.fetchone(
            f"UPDATE sessions SET {', '.join(sets)} WHERE id = ? AND tenant_id = ? "
            f"RETURNING {SESSION_COLUMNS}",
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
        async def work(tx: Queries) -> pb.Session:
            parent = await lock_session(tx, tenant_id, session_id)
            seq = await seq_of_turn(tx, parent, at_turn_id)
            return (await branch_at(tx, parent, seq, lease_ms=0)).session

        return await self.db.transact(work)

    # turns

    async def begin_turn(
        self,
        tenant_id: str,
        session_id: str,
        lease_ms: int,
        *,
        from_response_id: str = "",
        known_version: int = 0,
    ) -> Begun:
        if from_response_id:
            return await self._begin_from_response(
                tenant_id, session_id, from_response_id, lease_ms
            )
        if not session_id:
            session, lease_id = await insert_session(
                self.db, pb.Session(tenant_id=tenant_id), lease_ms=lease_ms
            )
            return Begun(session=session, lease_id=lease_id, context=[])
        lease_id = new_lease_id()
        unit = lease_unit(
            self.db,
            tenant_id=tenant_id,
            session_id=session_id,
            lease_id=lease_id,
            lease_ms=lease_ms,
            known_version=known_version,
        )
        taken = leased(await self.db.run_unit(unit))
        if taken is None:
            await self.get_session(tenant_id, session_id)  # raises SessionNotFound
            raise SessionBusy(session_id)
        context = context_of([turn_from_blob(body) for body in taken.bodies])
        return Begun(
            session=session_from_row(taken.row),
            lease_id=lease_id,
            context=context,
            is_delta=taken.is_delta,
        )

    async def _begin_from_response(
        self, tenant_id: str, session_id: str, response_id: str, lease_ms: int
    ) -> Begun:
        """Continues the session when the response is its latest turn, else branches at it.

        One transaction that locks the response's session row: a commit racing with it waits,
        so "latest" cannot turn stale between the check and the lease, and concurrent calls
        from one older response each get a branch of their own."""

        async def work(tx: Queries) -> Begun:
            found = await find_response(tx, tenant_id, response_id, session_id)
            parent = await lock_session(tx, tenant_id, found["session_id"], response_id)
            seq = int(found["seq"])
            if seq != parent["version"]:
                branch = await branch_at(tx, parent, seq, lease_ms=lease_ms)
                turns = await turns_between(tx, branch.session.id, branch.context_start)
                return Begun(branch.session, branch.lease_id, context_of(turns))
            lease_id = new_lease_id()
            now = tx.now_ms_sql
            row = await tx.fetchone(
                f"UPDATE sessions SET lease_id = ?, lease_expires_ms = {now} + ? "
                f"WHERE id = ? AND (lease_id IS NULL OR lease_expires_ms < {now}) "
                f"RETURNING {SESSION_COLUMNS}",
                lease_id,
                lease_ms,
                parent["id"],
            )
            if row is None:  # locked above, so only a live lease refuses
                raise SessionBusy(parent["id"])
            turns = await turns_between(tx, parent["id"], parent["context_start"])
            return Begun(session_from_row(row), lease_id, context_of(turns))

        return await self.db.transact(work)

    async def commit_turn(
        self,
        tenant_id: str,
        session_id: str,
        lease_id: str,
        turn: pb.Turn,
        instructions: list[content.Message] | None,
        *,
        create: bool = False,
    ) -> tuple[pb.Turn, int]:
        """Appends the turn to the session whose lease the call holds; or, `create`, makes the
        session `session_id` (the caller's new id, no lease) with the turn as its first, with
        what begin_turn gives a new session (no metadata, default model or context policy; the
        call's instructions when it sent some). SessionExists when the id is taken."""
        if create and (lease_id or not is_id(session_id)):
            raise InvalidRequest("Creating a session takes a new session id and no lease.")
        now = now_ms()
        stored = pb.Turn()
        stored.CopyFrom(turn)
        stored.ClearField("seq")  # the row's
        stored.session_id = session_id
        stored.id = stored.id or new_turn_id()
        stored.created_at_ms = stored.created_at_ms or now
        if create:
            session = pb.Session(
                id=session_id,
                tenant_id=tenant_id,
                version=1,
                instructions=instructions or [],
                created_at_ms=now,
                updated_at_ms=now,
            )
            unit = create_unit(self.db, session=session, turn=stored)
        else:
            unit = commit_unit(
                self.db,
                tenant_id=tenant_id,
                lease_id=lease_id,
                turn=stored,
                instructions=None if instructions is None else encode_instructions(instructions),
                now_ms=now,
            )
        version = committed_seq(await self.db.run_unit(unit))
        if version is None:
            # The lease is not this call's (creating: the id is taken), or this very unit was
            # kept by a first run whose answer a lost connection took (the backend ran it
            # again): the turn's id is in the turns table exactly when it was kept.
            row = await self.db.fetchone(
                "SELECT seq FROM turns WHERE session_id = ? AND id = ?", session_id, stored.id
            )
            if row is None:
                raise SessionExists(session_id) if create else LeaseLost(session_id)
            version = int(row["seq"])
        stored.seq = version
        return stored, version

    async def renew_lease(
        self, tenant_id: str, session_id: str, lease_id: str, lease_ms: int
    ) -> None:
        """Extends a held lease to the database's now + lease_ms. A lease that ran out but
        that no other call took is still this call's: nobody else wrote in between."""
        now = self.db.now_ms_sql
        row = await self.db.fetchone(
            f"UPDATE sessions SET lease_expires_ms = {now} + ? "
            "WHERE id = ? AND tenant_id = ? AND lease_id = ? RETURNING id",
            lease_ms,
            session_id,
            tenant_id,
            lease_id,
        )
        if row is None:
            raise LeaseLost(session_id)

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
        return await turns_between(self.db, session_id, 0)

    async def load_context(
        self, tenant_id: str, session_id: str, *, from_response_id: str = ""
    ) -> Loaded:
        """What begin_turn would load, taking no lease and making no branch: for calls that
        must keep nothing. From an older response: the context as of that turn."""
        if not from_response_id:
            if not session_id:
                raise InvalidRequest("LoadContext needs a session_id or a from_response_id.")
            row = await session_row(self.db, tenant_id, session_id)
            turns = await turns_between(self.db, session_id, row["context_start"])
            return Loaded(session=session_from_row(row), context=context_of(turns))
        found = await find_response(self.db, tenant_id, from_response_id, session_id)
        row = await session_row(self.db, tenant_id, found["session_id"])
        seq = int(found["seq"])
        start = await branch_start(self.db, row, seq)
        turns = await turns_between(self.db, row["id"], start, seq)
        return Loaded(session=session_from_row(row), context=context_of(turns))

    # response ids

    async def get_turn_by_response_id(self, tenant_id: str, response_id: str) -> FoundTurn:
        found = await find_response(self.db, tenant_id, response_id, "")
        return FoundTurn(
            turn=turn_from_row(found),
            session_id=found["session_id"],
            is_latest=found["seq"] == found["version"],
        )

    async def delete_response(self, tenant_id: str, response_id: str) -> None:
        """Forgets the id (the lookup column is cleared); the turn stays in the history."""
        rows = await self.db.fetchall(
            "UPDATE turns SET response_id = '' "
            "WHERE response_id = ? AND response_id <> '' "
            "AND session_id IN (SELECT id FROM sessions WHERE tenant_id = ?) RETURNING seq",
            response_id,
            tenant_id,
        )
        if not rows:
            raise ResponseNotFound(response_id)


def open_store(database_url: str) -> SqlSessionStore:
    """The store for a database URL: sqlite:///path (or sqlite:///:memory:), postgresql://..."""
    if database_url.startswith("sqlite:///"):
        from services.sessions.backends.sqlite import SqliteDatabase

        return SqlSessionStore(
            TimedDatabase(SqliteDatabase(database_url.removeprefix("sqlite:///")))
        )
    if database_url.startswith(("postgresql://", "postgres://")):
        from services.sessions.backends.postgres import PostgresDatabase

        return SqlSessionStore(TimedDatabase(PostgresDatabase(database_url)))
    raise ValueError("RHONE_DATABASE_URL must start with sqlite:/// or postgresql://")
