"""A call's BeginTurn and CommitTurn are one round trip to the database each, and so is the
CommitTurn that creates a first call's session with its turn (docs/long-sessions.md): counted
on the wire to the real PostgreSQL (a TCP proxy in front of it), and as hops to SQLite's
thread. A statement is prepared once per connection, so the
calls are counted after the first of each kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from rhone.ids import new_session_id
from rhone.v1 import content_pb2 as c
from services.sessions.backends.sqlite import SqliteDatabase
from services.sessions.sql_store import SqlSessionStore, open_store
from tests.fakes.tcp_proxy import TcpProxy
from tests.store.conftest import PG_URL, postgres_url
from tests.store.test_session_store import LEASE, texts, turn
from tests.store.test_store_faults import via_proxy

T = TypeVar("T")

INSTRUCTIONS = [c.Message(role=c.ROLE_SYSTEM, parts=[c.Part(text=c.TextPart(text="Be brief."))])]


async def counted(count: Callable[[], int], work: Awaitable[T]) -> tuple[T, int]:
    before = count()
    result = await work
    return result, count() - before


async def a_call_each_way(store: SqlSessionStore, count: Callable[[], int]) -> dict[str, int]:
    """The round trips of each kind of begin and commit a call makes, after a first of each."""
    sid = new_session_id()
    await store.commit_turn("t", sid, "", turn("q1", "a1"), INSTRUCTIONS, create=True)
    begun = await store.begin_turn("t", sid, LEASE)
    await store.commit_turn("t", sid, begun.lease_id, turn("q2", "a2"), INSTRUCTIONS)
    begun = await store.begin_turn("t", sid, LEASE)
    await store.commit_turn("t", sid, begun.lease_id, turn("q3", "a3"), None)
    trips: dict[str, int] = {}

    whole, trips["begin"] = await counted(count, store.begin_turn("t", sid, LEASE))
    assert texts(whole.context) == ["q1", "a1", "q2", "a2", "q3", "a3"] and not whole.is_delta
    (_, version), trips["commit"] = await counted(
        count, store.commit_turn("t", sid, whole.lease_id, turn("q4", "a4"), None)
    )
    delta, trips["begin from a known version"] = await counted(
        count, store.begin_turn("t", sid, LEASE, known_version=version - 1)
    )
    assert texts(delta.context) == ["q4", "a4"] and delta.is_delta
    _, trips["commit with instructions"] = await counted(
        count, store.commit_turn("t", sid, delta.lease_id, turn("q5", "a5"), INSTRUCTIONS)
    )
    session = await store.get_session("t", sid)
    assert session.version == 5 and session.instructions == INSTRUCTIONS
    created = new_session_id()
    (_, version), trips["create with the first turn"] = await counted(
        count, store.commit_turn("t", created, "", turn("q", "a"), INSTRUCTIONS, create=True)
    )
    assert version == 1 and (await store.get_session("t", created)).instructions == INSTRUCTIONS
    return trips


ONE_EACH = {
    "begin": 1,
    "commit": 1,
    "begin from a known version": 1,
    "commit with instructions": 1,
    "create with the first turn": 1,
}


async def test_begin_and_commit_are_one_round_trip_each_to_postgres():
    target = urlsplit(PG_URL)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 5432) as proxy:
        store = open_store(via_proxy(await postgres_url(), proxy))
        await store.open()
        try:
            trips = await a_call_each_way(store, lambda: proxy.round_trips)
        finally:
            await store.close()
    assert trips == ONE_EACH


async def test_begin_and_commit_are_one_hop_each_to_the_sqlite_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    store = open_store(f"sqlite:///{tmp_path}/rhone.db")
    await store.open()
    database = getattr(store.db, "db", store.db)  # under the timing wrapper
    assert isinstance(database, SqliteDatabase)
    conn = database.conn
    hops = 0
    execute = conn._execute

    async def counting(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await execute(fn, *args, **kwargs)

    monkeypatch.setattr(conn, "_execute", counting)
    try:
        trips = await a_call_each_way(store, lambda: hops)
    finally:
        await store.close()
    assert trips == ONE_EACH
