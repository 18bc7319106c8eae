"""A call that names no session creates it with its first turn, in CommitTurn
(`create`): the same session BeginTurn would have made, written only when the call's turn is,
and only under an id nobody holds. On SQLite and PostgreSQL."""

from __future__ import annotations

import grpc
import pytest

from rhone.ids import new_session_id
from services.sessions.servicer import status_of
from services.sessions.sql_store import SqlSessionStore
from services.sessions.store import InvalidRequest, SessionExists, SessionNotFound
from tests.store.test_round_trips import INSTRUCTIONS
from tests.store.test_session_store import LEASE, texts, turn
from tests.store.test_store_faults import LostAnswer

# What a session's row says beyond its id, timestamps and turns.
SETTINGS = ("tenant_id", "metadata", "default_model", "parent_id", "parent_turn_id")


async def test_a_first_turn_creates_the_session_beginturn_would_have(store: SqlSessionStore):
    begun = await store.begin_turn("t", "", LEASE)
    await store.commit_turn("t", begun.session.id, begun.lease_id, turn("q", "a"), INSTRUCTIONS)
    before = await store.get_session("t", begun.session.id)

    sid = new_session_id()
    committed, version = await store.commit_turn(
        "t", sid, "", turn("q", "a"), INSTRUCTIONS, create=True
    )

    assert version == 1 and committed.seq == 1 and committed.session_id == sid
    created = await store.get_session("t", sid)
    assert created.version == 1 and created.instructions == INSTRUCTIONS
    assert created.context_policy_json == before.context_policy_json == ""
    for field in SETTINGS:
        assert getattr(created, field) == getattr(before, field), field
    assert created.created_at_ms == created.updated_at_ms >= before.created_at_ms
    listed = [s.id for s in (await store.list_sessions("t", 10, "")).sessions]
    assert listed == [sid, before.id]
    turns = await store.list_turns("t", sid)
    assert [t.id for t in turns] == [committed.id]
    # Free at once (no lease), and continued like any session.
    again = await store.begin_turn("t", sid, LEASE, known_version=1)
    assert again.session.version == 1 and again.is_delta and not again.context
    await store.commit_turn("t", sid, again.lease_id, turn("q2", "a2"), None)
    whole = await store.begin_turn("t", sid, LEASE)
    assert texts(whole.context) == ["q", "a", "q2", "a2"]
    assert whole.session.instructions == INSTRUCTIONS


async def test_a_first_turn_without_instructions_or_as_a_snapshot(store: SqlSessionStore):
    plain = new_session_id()
    await store.commit_turn("t", plain, "", turn("q", "a"), None, create=True)
    assert not (await store.get_session("t", plain)).instructions
    snapshot = new_session_id()
    await store.commit_turn("t", snapshot, "", turn("s", "b", snapshot=True), None, create=True)
    await store.commit_turn(
        "t",
        snapshot,
        (await store.begin_turn("t", snapshot, LEASE)).lease_id,
        turn("q", "a"),
        None,
    )
    whole = await store.begin_turn("t", snapshot, LEASE)
    assert texts(whole.context) == ["s", "b", "q", "a"]


async def test_until_its_turn_is_written_the_new_id_names_nothing(store: SqlSessionStore):
    sid = new_session_id()
    with pytest.raises(SessionNotFound):
        await store.begin_turn("t", sid, LEASE)
    with pytest.raises(SessionNotFound):
        await store.get_session("t", sid)


@pytest.mark.parametrize("tenant", ["t", "another"])
async def test_an_id_taken_is_session_exists_and_writes_nothing(
    store: SqlSessionStore, tenant: str
):
    begun = await store.begin_turn(tenant, "", LEASE)
    sid = begun.session.id
    await store.commit_turn(tenant, sid, begun.lease_id, turn("q", "a"), None)

    with pytest.raises(SessionExists):
        await store.commit_turn("t", sid, "", turn("intruder", "x"), INSTRUCTIONS, create=True)

    session = await store.get_session(tenant, sid)
    assert session.version == 1 and not session.instructions
    assert [texts(t.input) for t in await store.list_turns(tenant, sid)] == [["q"]]


@pytest.mark.parametrize("case", ["no id", "not an id", "a lease"])
async def test_creating_takes_a_valid_new_id_and_no_lease(store: SqlSessionStore, case: str):
    sid = {"no id": "", "not an id": "sess/../x", "a lease": new_session_id()}[case]
    lease_id = "lease" if case == "a lease" else ""
    with pytest.raises(InvalidRequest):
        await store.commit_turn("t", sid, lease_id, turn("q", "a"), None, create=True)
    assert not (await store.list_sessions("t", 10, "")).sessions


async def test_a_first_turn_kept_but_whose_answer_was_lost_is_recorded_once(
    store: SqlSessionStore,
):
    sid = new_session_id()
    real = store.db
    store.db = lost = LostAnswer(real)
    try:
        committed, version = await store.commit_turn(
            "t", sid, "", turn("q", "a"), None, create=True
        )
    finally:
        store.db = real
    assert lost.runs == 1 and version == 1 and committed.seq == 1
    assert [t.id for t in await store.list_turns("t", sid)] == [committed.id]
    assert [s.id for s in (await store.list_sessions("t", 10, "")).sessions] == [sid]


def test_the_sessions_service_answers_an_id_taken_with_already_exists():
    code, message, detail = status_of(SessionExists("sess_1"))
    assert code == grpc.StatusCode.ALREADY_EXISTS and detail == "session_exists"
    assert "sess_1" in message
