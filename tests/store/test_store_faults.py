"""The store when its database misbehaves, and the lease rules that keep sessions from getting
stuck: leases renewed and judged by the database's clock, connections terminated under the
store (PostgreSQL), the database unreachable or locked."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest

from rhone.v1 import content_pb2 as c
from rhone.v1 import sessions_pb2 as pb
from services.sessions import store as store_module
from services.sessions.backends import postgres as postgres_backend
from services.sessions.backends.sqlite import SqliteDatabase
from services.sessions.servicer import status_of
from services.sessions.sql_store import SqlSessionStore, open_store
from services.sessions.store import (
    LeaseLost,
    SessionBusy,
    StoreUnavailable,
)
from tests.fakes.tcp_proxy import TcpProxy
from tests.store.conftest import PG_URL, postgres_url

LEASE = 60_000


def turn(text: str) -> pb.Turn:
    user = c.Message(role=c.ROLE_USER, parts=[c.Part(text=c.TextPart(text=text))])
    return pb.Turn(input=[user])


async def a_session(store: SqlSessionStore) -> str:
    begun = await store.begin_turn("t", "", LEASE)
    await store.commit_turn("t", begun.session.id, begun.lease_id, turn("q"), None)
    return begun.session.id


def with_app_name(url: str, name: str) -> str:
    return f"{url}&application_name={name}"


def via_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) > 1 else host))


async def terminate(app_name: str) -> int:
    """pg_terminate_backend of every connection of one application (only this test's)."""
    conn = await asyncpg.connect(PG_URL)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            app_name,
        )
    finally:
        await conn.close()
    return len(rows)


# leases


async def test_a_renewed_lease_keeps_the_session_busy(store: SqlSessionStore):
    sid = await a_session(store)
    begun = await store.begin_turn("t", sid, -1)  # expired the moment it was taken
    await store.renew_lease("t", sid, begun.lease_id, LEASE)
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", sid, LEASE)
    await store.commit_turn("t", sid, begun.lease_id, turn("q2"), None)


async def test_renewing_a_lease_taken_over_fails(store: SqlSessionStore):
    sid = await a_session(store)
    stale = await store.begin_turn("t", sid, -1)
    fresh = await store.begin_turn("t", sid, LEASE)
    with pytest.raises(LeaseLost):
        await store.renew_lease("t", sid, stale.lease_id, LEASE)
    await store.renew_lease("t", sid, fresh.lease_id, LEASE)
    await store.abort_turn("t", sid, fresh.lease_id)
    with pytest.raises(LeaseLost):
        await store.renew_lease("t", sid, fresh.lease_id, LEASE)


@pytest.mark.parametrize("skew_s", [3600, -3600])
async def test_leases_are_judged_by_the_database_clock_not_the_replicas(
    store: SqlSessionStore, monkeypatch: pytest.MonkeyPatch, skew_s: int
):
    """A replica whose clock is an hour off neither steals a live lease nor keeps a dead one."""
    sid = await a_session(store)
    held = await store.begin_turn("t", sid, LEASE)
    real = time.time
    monkeypatch.setattr(store_module.time, "time", lambda: real() + skew_s)
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", sid, LEASE)
    await store.abort_turn("t", sid, held.lease_id)
    dead = await store.begin_turn("t", sid, -1)
    taken = await store.begin_turn("t", sid, LEASE)
    assert taken.lease_id != dead.lease_id


async def test_a_lease_taken_from_a_response_follows_the_same_rules(store: SqlSessionStore):
    begun = await store.begin_turn("t", "", LEASE)
    sid = begun.session.id
    await store.commit_turn("t", sid, begun.lease_id, pb.Turn(response_id="resp_1"), None)
    await store.begin_turn("t", sid, -1)
    # The dead lease is no obstacle; a live one is.
    await store.begin_turn("t", "", LEASE, from_response_id="resp_1")
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", "", LEASE, from_response_id="resp_1")


# PostgreSQL connections terminated, PostgreSQL unreachable


@pytest.fixture
async def pg_app() -> AsyncIterator[tuple[SqlSessionStore, str]]:
    """A PostgreSQL store whose connections carry an application name of their own."""
    name = "rhone_faults_" + secrets.token_hex(4)
    store = open_store(with_app_name(await postgres_url(), name))
    await store.open()
    try:
        yield store, name
    finally:
        await store.close()


async def test_terminated_connections_are_replaced_without_a_caller_noticing(
    pg_app: tuple[SqlSessionStore, str],
):
    store, name = pg_app
    sid = await a_session(store)
    begun = await store.begin_turn("t", sid, LEASE)
    assert await terminate(name) >= 1
    await store.commit_turn("t", sid, begun.lease_id, turn("after"), None)
    assert await terminate(name) >= 1
    assert [t.seq for t in await store.list_turns("t", sid)] == [1, 2]
    assert await terminate(name) >= 1
    await store.branch_session("t", sid, "")
    assert await terminate(name) >= 1
    assert (await store.begin_turn("t", sid, LEASE)).lease_id


async def test_an_unreachable_postgres_is_unavailable_then_serves_again():
    url = await postgres_url()
    target = urlsplit(PG_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        store = open_store(via_proxy(url, proxy))
        await store.open()
        try:
            sid = await a_session(store)
            proxy.down()
            with pytest.raises(StoreUnavailable):
                await store.get_session("t", sid)
            with pytest.raises(StoreUnavailable):
                await store.begin_turn("t", sid, LEASE)
            assert not await store.db.ping()
            proxy.up()
            assert await store.db.ping()
            assert (await store.get_session("t", sid)).version == 1
        finally:
            await store.close()


# SQLite locked


async def test_a_locked_sqlite_database_is_unavailable_not_an_error(tmp_path: Path):
    path = tmp_path / "rhone.db"
    store = SqlSessionStore(SqliteDatabase(str(path), busy_timeout_ms=50))
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        sid = await a_session(store)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable):
            await store.begin_turn("t", sid, LEASE)
        with pytest.raises(StoreUnavailable):
            await store.commit_turn("t", sid, "no-lease", turn("x"), None)
        other.execute("ROLLBACK")
        begun = await store.begin_turn("t", sid, LEASE)
        await store.commit_turn("t", sid, begun.lease_id, turn("q2"), None)
    finally:
        other.close()
        await store.close()


def test_an_unavailable_store_is_a_clean_unavailable_status():
    exc = StoreUnavailable("PostgreSQL unreachable: ConnectionRefusedError")
    code, message, detail = status_of(exc)
    assert code == grpc.StatusCode.UNAVAILABLE and detail == "store_unavailable"
    assert message == "The session store is unavailable; retry shortly."


async def test_a_row_lock_whose_holder_went_quiet_does_not_block_a_new_call(
    monkeypatch: pytest.MonkeyPatch,
):
    """A sessions replica that hangs inside a transaction (stopped, partitioned) holds the
    session's row lock; PostgreSQL ends that transaction after the idle-in-transaction
    timeout, and the call waiting behind it proceeds."""
    monkeypatch.setattr(postgres_backend, "IDLE_IN_TRANSACTION_TIMEOUT_MS", 300)
    store = open_store(await postgres_url())
    await store.open()
    try:
        sid = await a_session(store)
        database = getattr(store.db, "db", store.db)  # under the timing wrapper
        assert isinstance(database, postgres_backend.PostgresDatabase)
        # The hung holder: a connection with the settings the store gives its own (a pool's
        # connection that PostgreSQL ended trips the pool's reset when it goes back).
        hung = await asyncpg.connect(
            database._dsn,
            server_settings={
                "idle_in_transaction_session_timeout": str(
                    postgres_backend.IDLE_IN_TRANSACTION_TIMEOUT_MS
                )
            },
        )
        try:
            await hung.execute("BEGIN")
            await hung.execute("UPDATE sessions SET version = version WHERE id = $1", sid)
            # The hung holder never says another word; the next call waits, then goes on.
            started = time.monotonic()
            begun = await asyncio.wait_for(store.begin_turn("t", sid, LEASE), timeout=10)
            waited = time.monotonic() - started
            # (Waiting forever without the timeout; how long exactly depends on the load.)
            assert begun.lease_id and waited < 5
        finally:
            hung.terminate()
    finally:
        await store.close()


class LostAnswer:
    """A database whose next unit is kept but its answer lost with its connection, so the
    backend runs it again (as PostgreSQL's does) and answers with what the second run found."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.runs = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def run_unit(self, unit: Any) -> Any:
        self.runs += 1
        if self.runs == 1:
            await self._db.run_unit(unit)
        return await self._db.run_unit(unit)


async def test_a_commit_kept_but_whose_answer_was_lost_is_recorded_exactly_once(
    store: SqlSessionStore,
):
    sid = await a_session(store)
    begun = await store.begin_turn("t", sid, LEASE)
    real = store.db
    store.db = lost = LostAnswer(real)
    try:
        committed, version = await store.commit_turn("t", sid, begun.lease_id, turn("second"), None)
    finally:
        store.db = real
    assert lost.runs == 1  # (the second run inside it)
    assert version == 2 and committed.seq == 2
    turns = await store.list_turns("t", sid)
    assert [t.seq for t in turns] == [1, 2] and turns[1].id == committed.id
    assert (await store.begin_turn("t", sid, LEASE)).lease_id  # the lease was given back


async def test_a_lease_taken_but_whose_answer_was_lost_is_the_callers(store: SqlSessionStore):
    sid = await a_session(store)
    real = store.db
    store.db = LostAnswer(real)
    try:
        begun = await store.begin_turn("t", sid, LEASE)
    finally:
        store.db = real
    assert [m.parts[0].text.text for m in begun.context] == ["q"]
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", sid, LEASE)
    await store.commit_turn("t", sid, begun.lease_id, turn("second"), None)


async def test_a_commit_on_a_lease_taken_over_is_lease_lost_and_writes_nothing(
    store: SqlSessionStore,
):
    sid = await a_session(store)
    stale = await store.begin_turn("t", sid, -1)
    fresh = await store.begin_turn("t", sid, LEASE)
    with pytest.raises(LeaseLost):
        await store.commit_turn("t", sid, stale.lease_id, turn("late"), [])
    session = await store.get_session("t", sid)
    assert session.version == 1 and len(await store.list_turns("t", sid)) == 1
    await store.commit_turn("t", sid, fresh.lease_id, turn("second"), None)
