"""The sessions API of the store (list, update, delete, branch, response ids, context without a
lease), the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from rhone.v1 import content_pb2 as c
from rhone.v1 import sessions_pb2 as pb
from services.sessions import sql_queries
from services.sessions.servicer import status_of
from services.sessions.sql_store import SqlSessionStore, open_store
from services.sessions.store import (
    InvalidCursor,
    InvalidRequest,
    LeaseLost,
    ResponseNotFound,
    SessionBusy,
    SessionChanges,
    SessionNotFound,
    TurnNotFound,
    decode_cursor,
    encode_cursor,
)

LEASE = 60_000


def msg(role: int, text: str) -> c.Message:
    return c.Message(role=role, parts=[c.Part(text=c.TextPart(text=text))])  # type: ignore[arg-type]


def texts(messages) -> list[str]:
    return [m.parts[0].text.text for m in messages]


async def add_turn(
    store: SqlSessionStore,
    session_id: str,
    question: str,
    *,
    tenant: str = "t",
    snapshot: bool = False,
) -> pb.Turn:
    """One committed turn answering `question` with `re:<question>`, its response id
    `resp_<question>`."""
    begun = await store.begin_turn(tenant, session_id, LEASE)
    turn = pb.Turn(
        input=[msg(c.ROLE_USER, question)],
        output=msg(c.ROLE_ASSISTANT, f"re:{question}"),
        snapshot=snapshot,
        response_id=f"resp_{question}",
    )
    committed, _ = await store.commit_turn(tenant, begun.session.id, begun.lease_id, turn, None)
    return committed


async def conversation(store: SqlSessionStore, *questions: str, tenant: str = "t") -> str:
    session = await store.create_session(tenant)
    for question in questions:
        await add_turn(store, session.id, question, tenant=tenant)
    return str(session.id)


async def row_count(store: SqlSessionStore, table: str, session_id: str) -> int:
    column = "id" if table == "sessions" else "session_id"
    rows = await store.db.fetchall(f"SELECT 1 FROM {table} WHERE {column} = ?", session_id)
    return len(rows)


# listing


async def test_sessions_list_newest_first_a_page_at_a_time(store: SqlSessionStore):
    created = [await store.create_session("t") for _ in range(5)]
    await store.create_session("someone-else")
    pages, cursor = [], ""
    while True:
        page = await store.list_sessions("t", 2, cursor)
        pages.append([s.id for s in page.sessions])
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [len(p) for p in pages] == [2, 2, 1]
    newest_first = sorted(created, key=lambda s: (s.created_at_ms, s.id), reverse=True)
    assert [sid for p in pages for sid in p] == [s.id for s in newest_first]


async def test_a_later_session_is_listed_before_an_earlier_one(
    store: SqlSessionStore, monkeypatch: pytest.MonkeyPatch
):
    """Sessions made in the same millisecond (creation times are milliseconds, and a burst of
    creations shares them) list in the reverse of their creation order, page after page."""
    made = [(await store.create_session("t")).id for _ in range(3)]
    later = sql_queries.now_ms() + 1000  # one millisecond for all of the next ones
    monkeypatch.setattr(sql_queries, "now_ms", lambda: later)
    made += [(await store.create_session("t")).id for _ in range(20)]
    page = await store.list_sessions("t", 50, "")
    assert [s.id for s in page.sessions] == made[::-1]
    assert page.next_cursor == ""
    listed, cursor = [], ""
    while True:
        page = await store.list_sessions("t", 4, cursor)
        listed += [s.id for s in page.sessions]
        if not (cursor := page.next_cursor):
            break
    assert listed == made[::-1]


async def test_a_list_page_is_capped_and_an_empty_tenant_lists_nothing(store: SqlSessionStore):
    assert (await store.list_sessions("nobody", 10, "")).sessions == []
    for _ in range(3):
        await store.create_session("t")
    page = await store.list_sessions("t", 1, "")
    assert len(page.sessions) == 1 and page.next_cursor


@pytest.mark.parametrize(
    "cursor", ["%%%", "bm90LWEtY3Vyc29y", encode_cursor(1, "")[:-2]], ids=["junk", "no_sep", "cut"]
)
async def test_a_foreign_cursor_is_refused(store: SqlSessionStore, cursor: str):
    with pytest.raises(InvalidCursor):
        await store.list_sessions("t", 10, cursor)


def test_cursors_round_trip():
    assert decode_cursor(encode_cursor(1_700_000_000_123, "sess_ab")) == (
        1_700_000_000_123,
        "sess_ab",
    )


# update and delete


async def test_update_replaces_only_the_fields_it_names(store: SqlSessionStore):
    session = await store.create_session(
        "t", metadata={"team": "a"}, instructions=[msg(c.ROLE_SYSTEM, "be brief")]
    )
    await add_turn(store, session.id, "q1")
    renamed = await store.update_session("t", session.id, SessionChanges(metadata={"team": "b"}))
    assert dict(renamed.metadata) == {"team": "b"}
    assert texts(renamed.instructions) == ["be brief"]
    modelled = await store.update_session("t", session.id, SessionChanges(default_model="gpt-x"))
    assert (modelled.default_model, dict(modelled.metadata)) == ("gpt-x", {"team": "b"})
    instructed = await store.update_session(
        "t", session.id, SessionChanges(instructions=[msg(c.ROLE_SYSTEM, "be long")])
    )
    assert texts(instructed.instructions) == ["be long"]
    assert instructed.version == 1, "settings are not turns: the version counts turns"
    assert instructed.updated_at_ms >= session.updated_at_ms
    cleared = await store.update_session("t", session.id, SessionChanges(instructions=[]))
    assert list(cleared.instructions) == [] and cleared.default_model == "gpt-x"
    assert await store.get_session("t", session.id) == cleared


async def test_another_tenant_cannot_update_or_delete(store: SqlSessionStore):
    sid = await conversation(store, "secret")
    with pytest.raises(SessionNotFound):
        await store.update_session("mallory", sid, SessionChanges(default_model="x"))
    with pytest.raises(SessionNotFound):
        await store.delete_session("mallory", sid)
    assert (await store.get_session("t", sid)).default_model == ""


async def test_delete_removes_the_session_and_its_turns(store: SqlSessionStore):
    sid = await conversation(store, "q1", "q2")
    await store.delete_session("t", sid)
    assert await row_count(store, "turns", sid) == 0
    for later in (
        store.get_session("t", sid),
        store.list_turns("t", sid),
        store.begin_turn("t", sid, LEASE),
        store.delete_session("t", sid),
        store.branch_session("t", sid, ""),
        store.load_context("t", sid),
    ):
        with pytest.raises(SessionNotFound):
            await later
    with pytest.raises(ResponseNotFound):
        await store.get_turn_by_response_id("t", "resp_q1")


async def test_a_call_in_flight_on_a_deleted_session_records_nothing(store: SqlSessionStore):
    sid = await conversation(store, "q1")
    begun = await store.begin_turn("t", sid, LEASE)
    await store.delete_session("t", sid)
    with pytest.raises(LeaseLost):
        await store.commit_turn("t", sid, begun.lease_id, pb.Turn(), None)
    assert await row_count(store, "turns", sid) == 0


# branches


async def test_branch_at_the_latest_turn_copies_the_history_and_settings(store: SqlSessionStore):
    parent = await store.create_session(
        "t", metadata={"k": 1}, instructions=[msg(c.ROLE_SYSTEM, "sys")], default_model="local"
    )
    await add_turn(store, parent.id, "q1")
    last = await add_turn(store, parent.id, "q2")
    branch = await store.branch_session("t", parent.id, "")
    assert branch.id != parent.id and branch.id.startswith("sess_")
    assert (branch.parent_id, branch.parent_turn_id) == (parent.id, last.id)
    assert (branch.version, dict(branch.metadata), branch.default_model) == (2, {"k": 1}, "local")
    assert texts(branch.instructions) == ["sys"]
    assert await store.get_session("t", branch.id) == branch
    parent_turns = await store.list_turns("t", parent.id)
    branch_turns = await store.list_turns("t", branch.id)
    assert [(t.id, t.seq) for t in branch_turns] == [(t.id, t.seq) for t in parent_turns]
    assert {t.session_id for t in branch_turns} == {branch.id}
    # The branch continues on its own; the parent does not see it.
    await add_turn(store, branch.id, "b3")
    assert [t.seq for t in await store.list_turns("t", branch.id)] == [1, 2, 3]
    assert len(await store.list_turns("t", parent.id)) == 2


async def test_branch_at_an_older_turn_remembers_only_up_to_it(store: SqlSessionStore):
    parent = await store.create_session("t")
    first = await add_turn(store, parent.id, "q1")
    await add_turn(store, parent.id, "q2")
    branch = await store.branch_session("t", parent.id, first.id)
    assert (branch.version, branch.parent_turn_id) == (1, first.id)
    begun = await store.begin_turn("t", branch.id, LEASE)
    assert texts(begun.context) == ["q1", "re:q1"]


async def test_branch_cut_before_a_snapshot_starts_its_context_at_an_earlier_one(
    store: SqlSessionStore,
):
    parent = await store.create_session("t")
    await add_turn(store, parent.id, "q1")
    snap = await add_turn(store, parent.id, "s2", snapshot=True)
    third = await add_turn(store, parent.id, "q3")
    await add_turn(store, parent.id, "s4", snapshot=True)
    before = await store.branch_session("t", parent.id, third.id)
    context = (await store.begin_turn("t", before.id, LEASE)).context
    assert texts(context) == ["s2", "re:s2", "q3", "re:q3"]
    at_snapshot = await store.branch_session("t", parent.id, snap.id)
    assert texts((await store.load_context("t", at_snapshot.id)).context) == ["s2", "re:s2"]
    first = (await store.list_turns("t", parent.id))[0]
    earliest = await store.branch_session("t", parent.id, first.id)
    assert texts((await store.load_context("t", earliest.id)).context) == ["q1", "re:q1"]


async def test_a_branch_of_an_empty_session_is_empty(store: SqlSessionStore):
    parent = await store.create_session("t")
    branch = await store.branch_session("t", parent.id, "")
    assert (branch.version, branch.parent_id, branch.parent_turn_id) == (0, parent.id, "")
    assert await store.list_turns("t", branch.id) == []


async def test_branch_errors_name_what_is_missing(store: SqlSessionStore):
    sid = await conversation(store, "q1")
    with pytest.raises(TurnNotFound):
        await store.branch_session("t", sid, "turn_nope")
    with pytest.raises(SessionNotFound):
        await store.branch_session("mallory", sid, "")


async def test_a_branch_outlives_its_parent(store: SqlSessionStore):
    parent = await conversation(store, "q1", "q2")
    branch = await store.branch_session("t", parent, "")
    await store.delete_session("t", parent)
    assert texts((await store.load_context("t", branch.id)).context) == [
        "q1",
        "re:q1",
        "q2",
        "re:q2",
    ]


# response ids


async def test_a_response_id_names_its_turn_and_says_whether_it_is_the_latest(
    store: SqlSessionStore,
):
    sid = await conversation(store, "q1", "q2")
    older = await store.get_turn_by_response_id("t", "resp_q1")
    latest = await store.get_turn_by_response_id("t", "resp_q2")
    assert (older.session_id, older.turn.seq, older.is_latest) == (sid, 1, False)
    assert (latest.session_id, latest.turn.seq, latest.is_latest) == (sid, 2, True)
    assert texts(latest.turn.input) == ["q2"]


@pytest.mark.parametrize(
    ("tenant", "response_id"),
    [("t", "resp_unknown"), ("t", ""), ("mallory", "resp_q1")],
    ids=["unknown", "empty", "another_tenants"],
)
async def test_an_unknown_response_id_is_not_found(
    store: SqlSessionStore, tenant: str, response_id: str
):
    await conversation(store, "q1")
    with pytest.raises(ResponseNotFound):
        await store.get_turn_by_response_id(tenant, response_id)
    with pytest.raises(ResponseNotFound):
        await store.begin_turn(tenant, "", LEASE, from_response_id=response_id or "resp_x")
    with pytest.raises(ResponseNotFound):
        await store.load_context(tenant, "", from_response_id=response_id or "resp_x")


async def test_a_branch_copy_does_not_take_over_its_response_id(store: SqlSessionStore):
    sid = await conversation(store, "q1")
    await store.branch_session("t", sid, "")
    found = await store.get_turn_by_response_id("t", "resp_q1")
    assert (found.session_id, found.is_latest) == (sid, True)


async def test_a_deleted_response_is_unknown_but_its_turn_stays(store: SqlSessionStore):
    sid = await conversation(store, "q1", "q2")
    with pytest.raises(ResponseNotFound):
        await store.delete_response("mallory", "resp_q1")
    await store.delete_response("t", "resp_q1")
    with pytest.raises(ResponseNotFound):
        await store.get_turn_by_response_id("t", "resp_q1")
    with pytest.raises(ResponseNotFound):
        await store.delete_response("t", "resp_q1")
    assert [t.seq for t in await store.list_turns("t", sid)] == [1, 2]
    assert (await store.get_turn_by_response_id("t", "resp_q2")).is_latest


# beginning a turn from a response


async def test_from_the_latest_response_a_call_continues_its_session(store: SqlSessionStore):
    sid = await conversation(store, "q1", "q2")
    begun = await store.begin_turn("t", "", LEASE, from_response_id="resp_q2")
    assert begun.session.id == sid and begun.lease_id
    assert texts(begun.context) == ["q1", "re:q1", "q2", "re:q2"]
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", sid, LEASE)
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", "", LEASE, from_response_id="resp_q2")
    await store.commit_turn("t", sid, begun.lease_id, pb.Turn(response_id="resp_q3"), None)
    assert (await store.get_turn_by_response_id("t", "resp_q3")).turn.seq == 3


async def test_from_an_older_response_a_call_begins_on_a_new_branch(store: SqlSessionStore):
    sid = await conversation(store, "q1", "q2")
    first = (await store.list_turns("t", sid))[0]
    begun = await store.begin_turn("t", "", LEASE, from_response_id="resp_q1")
    branch = begun.session
    assert branch.id != sid
    assert (branch.parent_id, branch.parent_turn_id, branch.version) == (sid, first.id, 1)
    assert texts(begun.context) == ["q1", "re:q1"]
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", branch.id, LEASE)
    turn = pb.Turn(input=[msg(c.ROLE_USER, "b2")], response_id="resp_b2")
    committed, version = await store.commit_turn("t", branch.id, begun.lease_id, turn, None)
    assert (committed.seq, version) == (2, 2)
    assert [t.seq for t in await store.list_turns("t", sid)] == [1, 2]
    found = await store.get_turn_by_response_id("t", "resp_b2")
    assert (found.session_id, found.is_latest) == (branch.id, True)


async def test_a_response_that_was_latest_branches_once_another_turn_lands(
    store: SqlSessionStore,
):
    sid = await conversation(store, "q1")
    holder = await store.begin_turn("t", sid, LEASE)
    with pytest.raises(SessionBusy):
        await store.begin_turn("t", "", LEASE, from_response_id="resp_q1")
    await store.commit_turn("t", sid, holder.lease_id, pb.Turn(response_id="resp_q2"), None)
    begun = await store.begin_turn("t", "", LEASE, from_response_id="resp_q1")
    assert begun.session.id != sid and begun.session.parent_id == sid


async def test_from_a_response_in_another_session_is_not_found(store: SqlSessionStore):
    await conversation(store, "q1")
    other = await conversation(store, "o1")
    with pytest.raises(ResponseNotFound):
        await store.begin_turn("t", other, LEASE, from_response_id="resp_q1")
    begun = await store.begin_turn("t", other, LEASE, from_response_id="resp_o1")
    assert begun.session.id == other


async def test_many_calls_from_one_older_response_each_get_their_own_branch(
    store: SqlSessionStore,
):
    sid = await conversation(store, "q1", "q2")
    calls = 12
    begun = await asyncio.gather(
        *(store.begin_turn("t", "", LEASE, from_response_id="resp_q1") for _ in range(calls))
    )
    branches = {b.session.id for b in begun}
    assert len(branches) == calls and sid not in branches
    assert all(texts(b.context) == ["q1", "re:q1"] for b in begun)

    async def finish(i: int) -> None:
        b = begun[i]
        turn = pb.Turn(input=[msg(c.ROLE_USER, f"b{i}")], response_id=f"resp_b{i}")
        await store.commit_turn("t", b.session.id, b.lease_id, turn, None)

    await asyncio.gather(*(finish(i) for i in range(calls)))
    for i, b in enumerate(begun):
        turns = await store.list_turns("t", b.session.id)
        assert [(t.seq, texts(t.input)) for t in turns] == [(1, ["q1"]), (2, [f"b{i}"])]
    assert [t.seq for t in await store.list_turns("t", sid)] == [1, 2]


async def test_many_calls_from_the_latest_response_let_exactly_one_through(
    store: SqlSessionStore,
):
    sid = await conversation(store, "q1")

    async def attempt() -> str:
        try:
            return (await store.begin_turn("t", "", LEASE, from_response_id="resp_q1")).session.id
        except SessionBusy:
            return "busy"

    outcomes = await asyncio.gather(*(attempt() for _ in range(10)))
    assert sorted(outcomes) == [*(["busy"] * 9), sid]


# context without a lease


async def test_load_context_takes_no_lease_and_makes_no_branch(store: SqlSessionStore):
    sid = await conversation(store, "q1", "q2")
    holder = await store.begin_turn("t", sid, LEASE)
    loaded = await store.load_context("t", sid)
    assert loaded.session.id == sid
    assert texts(loaded.context) == texts(holder.context) == ["q1", "re:q1", "q2", "re:q2"]
    older = await store.load_context("t", "", from_response_id="resp_q1")
    assert (older.session.id, texts(older.context)) == (sid, ["q1", "re:q1"])
    latest = await store.load_context("t", sid, from_response_id="resp_q2")
    assert texts(latest.context) == texts(loaded.context)
    assert [s.id for s in (await store.list_sessions("t", 100, "")).sessions] == [sid]
    await store.abort_turn("t", sid, holder.lease_id)
    await store.load_context("t", sid)
    assert (await store.begin_turn("t", sid, LEASE)).lease_id


async def test_load_context_needs_a_session_or_a_response(store: SqlSessionStore):
    with pytest.raises(InvalidRequest):
        await store.load_context("t", "")
    with pytest.raises(SessionNotFound):
        await store.load_context("mallory", await conversation(store, "q1"))


# gRPC status of each store error


@pytest.mark.parametrize(
    ("exc", "code", "detail"),
    [
        (SessionNotFound("sess_x"), grpc.StatusCode.NOT_FOUND, "session_not_found"),
        (TurnNotFound("turn_x", "sess_x"), grpc.StatusCode.NOT_FOUND, "turn_not_found"),
        (ResponseNotFound("resp_x"), grpc.StatusCode.NOT_FOUND, "response_not_found"),
        (SessionBusy("sess_x"), grpc.StatusCode.ABORTED, "session_busy"),
        (LeaseLost("sess_x"), grpc.StatusCode.FAILED_PRECONDITION, "session_conflict"),
        (InvalidCursor("zz"), grpc.StatusCode.INVALID_ARGUMENT, "invalid_cursor"),
        (InvalidRequest("Say why."), grpc.StatusCode.INVALID_ARGUMENT, "invalid_request"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_store_error_has_its_grpc_status_and_detail(exc, code, detail):
    got_code, message, got_detail = status_of(exc)
    assert (got_code, got_detail) == (code, detail)
    assert message.endswith(".") and ("_x'" in message or code == grpc.StatusCode.INVALID_ARGUMENT)


async def test_replicas_starting_together_all_open_the_store(store_url: str):
    """Many sessions services on one fresh database: migrations run once, none fails."""
    replicas = [open_store(store_url) for _ in range(4)]
    try:
        await asyncio.gather(*(replica.open() for replica in replicas))
        assert [s.id for s in [await replicas[0].create_session("t")]]
    finally:
        for replica in replicas:
            await replica.close()
