"""Group commit on SQLite: units that arrive while another holds the connection wait together
and share one hop to SQLite's thread, each still its own transaction and its own caller's
answer (services/sessions/backends/sqlite.py). Hops are observed where aiosqlite hands work to
its thread, as tests/store/test_round_trips.py counts them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from rhone.v1 import sessions_pb2 as pb
from services.sessions.backends import sqlite as sqlite_backend
from services.sessions.backends.base import Row, Step, Unit
from services.sessions.backends.sqlite import SqliteDatabase
from services.sessions.sql_store import SqlSessionStore
from services.sessions.store import LeaseLost, StoreUnavailable
from tests.store.test_session_store import LEASE, turn


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlSessionStore]:
    # A busy timeout long enough for a test to hold the file from another connection.
    store = SqlSessionStore(SqliteDatabase(str(tmp_path / "rhone.db"), busy_timeout_ms=10_000))
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def database_of(store: SqlSessionStore) -> SqliteDatabase:
    assert isinstance(store.db, SqliteDatabase)
    return store.db


def units_per_hop(
    database: SqliteDatabase, monkeypatch: pytest.MonkeyPatch, on_hop: Callable[[], None] = list
) -> list[int]:
    """How many units each hop to SQLite's thread carries from now on (statements' hops left
    out). `on_hop` runs as a unit's hop is handed over."""
    carried: list[int] = []
    execute = database.conn._execute

    async def counting(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if fn is sqlite_backend._run_steps:
            carried.append(1)
            on_hop()
        elif fn is sqlite_backend._run_units:
            carried.append(len(args[1]))
            on_hop()
        return await execute(fn, *args, **kwargs)

    monkeypatch.setattr(database.conn, "_execute", counting)
    return carried


async def sessions(store: SqlSessionStore, n: int) -> list[str]:
    """The ids of n new sessions, each at version 1 with its lease given back."""
    ids = []
    for _ in range(n):
        begun = await store.begin_turn("t", "", LEASE)
        await store.commit_turn("t", begun.session.id, begun.lease_id, turn("q", "a"), None)
        ids.append(begun.session.id)
    return ids


def plain(results: Sequence[Sequence[Row]]) -> list[list[tuple[Any, ...]]]:
    return [[tuple(row) for row in step] for step in results]


async def test_commits_gathered_together_share_a_hop_and_all_commit(
    store: SqlSessionStore, monkeypatch: pytest.MonkeyPatch
):
    ids = await sessions(store, 16)
    carried = units_per_hop(database_of(store), monkeypatch)

    begun = await asyncio.gather(*(store.begin_turn("t", sid, LEASE) for sid in ids))
    # The first has the thread alone; the fifteen that arrived meanwhile wait for it together.
    assert carried == [1, 15]
    committed = await asyncio.gather(
        *(
            store.commit_turn("t", sid, b.lease_id, turn(f"q-{sid}", "a"), None)
            for sid, b in zip(ids, begun, strict=True)
        )
    )
    assert carried == [1, 15, 1, 15]

    assert [version for _, version in committed] == [2] * 16
    for sid in ids:
        assert (await store.get_session("t", sid)).version == 2
        history = await store.list_turns("t", sid)
        assert [t.input[0].parts[0].text.text for t in history] == ["q", f"q-{sid}"]


async def test_a_unit_that_fails_in_a_group_fails_alone(
    store: SqlSessionStore, monkeypatch: pytest.MonkeyPatch
):
    first, lost, broken, kept = await sessions(store, 4)
    begun = {sid: await store.begin_turn("t", sid, LEASE) for sid in (first, lost, kept)}
    database = database_of(store)
    carried = units_per_hop(database, monkeypatch)
    # Raises the turns table's primary key after a write of its own, in one transaction.
    clash = Unit(
        "clash",
        (
            Step(
                "UPDATE sessions SET version = 99 WHERE id = ? RETURNING id",
                (broken,),
                needs_row=True,
            ),
            Step(
                "INSERT INTO turns (session_id, seq, id, body, created_at_ms) "
                "VALUES (?, 1, 'turn_x', x'00', 0)",
                (broken,),
            ),
        ),
    )

    outcomes = await asyncio.gather(
        store.commit_turn("t", first, begun[first].lease_id, turn("q2", "a2"), None),
        store.commit_turn("t", lost, "not-its-lease", turn("q2", "a2"), None),
        database.run_unit(clash),
        store.commit_turn("t", kept, begun[kept].lease_id, turn("q2", "a2"), None),
        return_exceptions=True,
    )

    assert carried[:2] == [1, 3]  # the last three in one hop
    assert isinstance(outcomes[1], LeaseLost)
    assert isinstance(outcomes[2], sqlite3.IntegrityError)
    assert [outcomes[0][1], outcomes[3][1]] == [2, 2]  # type: ignore[index]
    assert (await store.get_session("t", kept)).version == 2
    # The guard found no row for the lease: nothing kept, and the lease is still its holder's.
    assert (await store.get_session("t", lost)).version == 1
    _, version = await store.commit_turn("t", lost, begun[lost].lease_id, turn("q", "a"), None)
    assert version == 2
    # The failing unit's own first write was rolled back with it.
    assert (await store.get_session("t", broken)).version == 1


async def test_a_waiting_unit_whose_caller_is_cancelled_never_runs(
    store: SqlSessionStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    first, cancelled, kept = await sessions(store, 3)
    begun = {sid: await store.begin_turn("t", sid, LEASE) for sid in (first, cancelled, kept)}
    handed = asyncio.Event()
    carried = units_per_hop(database_of(store), monkeypatch, on_hop=handed.set)
    # Another connection holds the file: the first unit's hop waits in BEGIN IMMEDIATE.
    other = sqlite3.connect(tmp_path / "rhone.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        calls = [
            asyncio.create_task(
                store.commit_turn("t", sid, begun[sid].lease_id, turn("q2", "a2"), None)
            )
            for sid in (first, cancelled, kept)
        ]
        # Woken by the first unit's hop, this task runs after the other two have started
        # waiting behind it (the loop runs ready tasks in order).
        await handed.wait()
        assert carried == [1]
        calls[1].cancel()
    finally:
        other.execute("ROLLBACK")
        other.close()
    done = await asyncio.gather(*calls, return_exceptions=True)

    assert isinstance(done[1], asyncio.CancelledError)
    assert carried == [1, 1]  # the group held only the unit still waited for
    assert [done[0][1], done[2][1]] == [2, 2]  # type: ignore[index]
    assert (await store.get_session("t", cancelled)).version == 1
    # It never ran: the lease it would have given back is still its caller's.
    _, version = await store.commit_turn(
        "t", cancelled, begun[cancelled].lease_id, turn("q", "a"), None
    )
    assert version == 2


async def test_a_lone_unit_has_a_hop_of_its_own_and_the_same_results_in_a_group(
    store: SqlSessionStore, monkeypatch: pytest.MonkeyPatch
):
    (sid,) = await sessions(store, 1)
    database = database_of(store)
    carried = units_per_hop(database, monkeypatch)
    read = Unit(
        "read",
        (
            Step("SELECT id, version FROM sessions WHERE id = ?", (sid,), needs_row=True),
            Step("SELECT seq FROM turns WHERE session_id = ?", (sid,)),
        ),
    )
    missing = Unit(
        "missing",
        (
            Step("SELECT id FROM sessions WHERE id = ?", ("sess_none",), needs_row=True),
            Step("SELECT 1"),
        ),
    )

    alone = [plain(await database.run_unit(read)), plain(await database.run_unit(missing))]
    assert carried == [1, 1]
    assert alone == [[[(sid, 1)], [(1,)]], [[]]]  # each step's rows, up to a guard that found none

    grouped = await asyncio.gather(*(database.run_unit(u) for u in (read, read, missing)))
    assert carried == [1, 1, 1, 2]
    assert [plain(results) for results in grouped] == [alone[0], alone[0], alone[1]]


async def test_a_unit_inside_a_transaction_is_refused(store: SqlSessionStore):
    database = database_of(store)
    async with database.transaction():
        with pytest.raises(RuntimeError, match="inside a transaction"):
            await database.run_unit(Unit("read", (Step("SELECT 1"),)))


async def test_a_file_held_elsewhere_fails_each_waiting_unit_and_lets_a_health_check_between(
    tmp_path: Path,
):
    """Each unit waits the busy timeout and fails StoreUnavailable on its own; a hop starts no
    further unit once it has run GROUP_MAX_SECONDS, so a health check queued behind the group
    answers after the first of them, not after every one."""
    path = tmp_path / "held.db"
    store = SqlSessionStore(SqliteDatabase(str(path), busy_timeout_ms=100))
    await store.open()
    database = database_of(store)
    other = sqlite3.connect(path, isolation_level=None)
    order: list[str] = []

    async def commit(label: str, sid: str) -> None:
        with pytest.raises(StoreUnavailable):
            await store.commit_turn("t", sid, "lease", pb.Turn(), None)
        order.append(label)
        if label == "first":
            # Queued for the lock behind the group that waited for this unit.
            order.append("ping" if await database.ping() else "ping failed")

    try:
        ids = await sessions(store, 4)
        other.execute("BEGIN IMMEDIATE")
        labels = ["first", "a", "b", "c"]
        await asyncio.gather(*(commit(label, sid) for label, sid in zip(labels, ids, strict=True)))
    finally:
        other.execute("ROLLBACK")
        other.close()
        await store.close()
    assert order == ["first", "a", "ping", "b", "c"]
