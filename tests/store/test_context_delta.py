"""BeginTurn's known_version (the translator's context cache): only the turns after it, unless
a snapshot restarted the context since; and a session's context policy is kept. Same on
SQLite and PostgreSQL."""

from __future__ import annotations

from services.sessions.sql_store import SqlSessionStore
from services.sessions.store import SessionChanges
from tests.store.test_session_store import LEASE, one_turn, texts, turn


async def test_a_caller_that_knows_a_version_gets_only_newer_turns(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q1", "a1")
    await one_turn(store, "t", sid, "q2", "a2")
    begun = await store.begin_turn("t", sid, LEASE, known_version=1)
    assert begun.is_delta and texts(begun.context) == ["q2", "a2"]
    await store.abort_turn("t", sid, begun.lease_id)
    begun = await store.begin_turn("t", sid, LEASE, known_version=2)
    assert begun.is_delta and begun.context == []
    await store.abort_turn("t", sid, begun.lease_id)
    # A version the session never reached: the whole context.
    begun = await store.begin_turn("t", sid, LEASE, known_version=7)
    assert not begun.is_delta and texts(begun.context) == ["q1", "a1", "q2", "a2"]
    await store.abort_turn("t", sid, begun.lease_id)


async def test_a_snapshot_after_the_known_version_sends_the_context_whole(
    store: SqlSessionStore,
):
    sid = await one_turn(store, "t", "", "q1", "a1")
    begun = await store.begin_turn("t", sid, LEASE)
    await store.commit_turn("t", sid, begun.lease_id, turn("summary", "s", snapshot=True), None)
    await one_turn(store, "t", sid, "q3", "a3")
    begun = await store.begin_turn("t", sid, LEASE, known_version=1)
    assert not begun.is_delta and texts(begun.context) == ["summary", "s", "q3", "a3"]
    await store.abort_turn("t", sid, begun.lease_id)
    begun = await store.begin_turn("t", sid, LEASE, known_version=2)
    assert begun.is_delta and texts(begun.context) == ["q3", "a3"]


async def test_the_context_policy_is_kept_and_copied_to_branches(store: SqlSessionStore):
    sid = await one_turn(store, "t", "", "q1", "a1")
    policy = '{"strategy":"truncate"}'
    updated = await store.update_session("t", sid, SessionChanges(context_policy_json=policy))
    assert updated.context_policy_json == policy
    assert (await store.get_session("t", sid)).context_policy_json == policy
    branch = await store.branch_session("t", sid, "")
    assert branch.context_policy_json == policy
    cleared = await store.update_session("t", sid, SessionChanges(context_policy_json=""))
    assert cleared.context_policy_json == ""
