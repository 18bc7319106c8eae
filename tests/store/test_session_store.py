"""The session store's contract, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re

import pytest

from rhone.v1 import content_pb2 as c
from rhone.v1 import sessions_pb2 as pb
from services.sessions.migrations import migrate
from services.sessions.sql_store import SqlSessionStore, open_store
from services.sessions.store import LeaseLost, SessionBusy, SessionNotFound

LEASE = 60_000


def msg(role: int, text: str) -> c.Message:
    return c.Message(role=role, parts=[c.Part(text=c.TextPart(text=text))])  # type: ignore[arg-type]


def turn(question: str, answer: str, *, snapshot: bool = False) -> pb.Turn:
    return pb.Turn(
        input=[msg(c.ROLE_USER, question)],
        output=msg(c.ROLE_ASSISTANT, answer),
        model="local",
        provider="local",
        snapshot=snapshot,
    )


def texts(messages) -> list[str]:
    return [m.parts[0].text.text for m in messages]


async def one_turn(store: SqlSessionStore, tenant: str, session_id: str, q: str, a: str) -> str:
    begun = await store.begin_turn(tenant, session_id, LEASE)
    await store.commit_turn(tenant, begun.session.id, begun.lease_id, turn(q, a), None)
    return begun.session.id


async def test_new_session_ids_are_unguessable(store: SqlSessionStore):
    ids = {(await store.begin_turn("t", "", LEASE)).session.id for _ in range(5)}
    assert len(ids) == 5
    assert all(re.fullmatch(r"sess_[0-9a-f]{32}", i) for i in ids)


async def test_turns_append_and_replay_in_order(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q1", "a1")
    await one_turn(store, "t", sid, "q2", "a2")
    begun = await store.begin_turn("t", sid, LEASE)
    assert texts(begun.context) == ["q1", "a1", "q2", "a2"]
    assert begun.session.version == 2
    turns = await store.list_turns("t", sid)
    assert [t.seq for t in turns] == [1, 2]


async def test_a_busy_session_refuses_a_second_call(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q", "a")
    await store.begin_turn("t", sid, LEASE)
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", sid, LEASE)


async def test_an_expired_lease_can_be_taken_over(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q", "a")
    stale = await store.begin_turn("t", sid, -1)
    fresh = await store.begin_turn("t", sid, LEASE)
    with pytest.raises(LeaseLost):
        await store.commit_turn("t", sid, stale.lease_id, turn("late", "x"), None)
    await store.commit_turn("t", sid, fresh.lease_id, turn("q2", "a2"), None)
    assert [t.seq for t in await store.list_turns("t", sid)] == [1, 2]


async def test_abort_releases_and_records_nothing(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q", "a")
    begun = await store.begin_turn("t", sid, LEASE)
    await store.abort_turn("t", sid, begun.lease_id)
    with pytest.raises(LeaseLost):
        await store.commit_turn("t", sid, begun.lease_id, turn("x", "y"), None)
    again = await store.begin_turn("t", sid, LEASE)
    assert texts(again.context) == ["q", "a"]


async def test_another_tenants_session_is_not_found(store: SqlSessionStore):
    sid = await one_turn(store, "alice", "", "secret", "kept")
    with pytest.raises(SessionNotFound):
        await store.begin_turn("mallory", sid, LEASE)
    with pytest.raises(SessionNotFound):
        await store.get_session("mallory", sid)
    with pytest.raises(SessionNotFound):
        await store.list_turns("mallory", sid)


async def test_a_snapshot_turn_restarts_the_context(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "old", "old answer")
    begun = await store.begin_turn("t", sid, LEASE)
    await store.commit_turn(
        "t", sid, begun.lease_id, turn("transcript", "new", snapshot=True), None
    )
    await one_turn(store, "t", sid, "after", "ok")
    begun = await store.begin_turn("t", sid, LEASE)
    assert texts(begun.context) == ["transcript", "new", "after", "ok"]


async def test_instructions_are_kept_as_the_session_default(store: SqlSessionStore):
    begun = await store.begin_turn("t", "", LEASE)
    await store.commit_turn(
        "t", begun.session.id, begun.lease_id, turn("q", "a"), [msg(c.ROLE_SYSTEM, "be brief")]
    )
    session = await store.get_session("t", begun.session.id)
    assert texts(session.instructions) == ["be brief"]


async def test_racing_calls_on_one_session_never_interleave(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q0", "a0")

    async def round_of(racers: int) -> int:
        # Every racer tries before the winner commits: exactly one may hold the lease.
        everyone_tried = asyncio.Barrier(racers)

        async def attempt(i: int) -> bool:
            try:
                begun = await store.begin_turn("t", sid, LEASE)
            except SessionBusy:
                await everyone_tried.wait()
                return False
            await everyone_tried.wait()
            await store.commit_turn("t", sid, begun.lease_id, turn(f"q{i}", f"a{i}"), None)
            return True

        return sum(await asyncio.gather(*(attempt(i) for i in range(racers))))

    assert [await round_of(10) for _ in range(3)] == [1, 1, 1]
    turns = await store.list_turns("t", sid)
    assert [t.seq for t in turns] == [1, 2, 3, 4]


async def test_many_sessions_in_parallel_each_keep_their_turns(store: SqlSessionStore):
    async def conversation(i: int) -> str:
        sid = await one_turn(store, "t", "", f"s{i}q1", "a")
        await one_turn(store, "t", sid, f"s{i}q2", "b")
        return sid

    sids = await asyncio.gather(*(conversation(i) for i in range(20)))
    for i, sid in enumerate(sids):
        begun = await store.begin_turn("t", sid, LEASE)
        assert texts(begun.context) == [f"s{i}q1", "a", f"s{i}q2", "b"]


async def test_sessions_survive_a_restart(store_url: str):
    first = open_store(store_url)
    await first.open()
    sid = await one_turn(first, "t", "", "remember me", "ok")
    await first.close()
    second = open_store(store_url)
    await second.open()
    try:
        begun = await second.begin_turn("t", sid, LEASE)
        assert texts(begun.context) == ["remember me", "ok"]
    finally:
        await second.close()


async def test_migrations_are_idempotent(store: SqlSessionStore):
    assert await migrate(store.db) == []
