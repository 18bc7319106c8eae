"""CommitTurns (group commit): several calls' commits in one RPC, each done as CommitTurn does
it and answered in its own outcome, in order; one commit's error is not the others'. Each is
counted as the CommitTurn it stands for. The sessions servicer over real gRPC, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from prometheus_client import REGISTRY

from rhone.ids import new_session_id
from rhone.launcher import free_port
from rhone.observability.grpc_hooks import ObservedServer
from rhone.v1 import sessions_pb2 as pb
from rhone.v1 import sessions_pb2_grpc as pb_grpc
from services.sessions.servicer import SessionServicer
from services.sessions.sql_store import SqlSessionStore
from tests.store.test_session_store import LEASE, texts, turn


@pytest.fixture
async def sessions(store: SqlSessionStore) -> AsyncIterator[pb_grpc.SessionServiceStub]:
    server = grpc.aio.server()
    pb_grpc.add_SessionServiceServicer_to_server(
        SessionServicer(store, LEASE),
        ObservedServer(server, "sessions"),  # type: ignore[arg-type]
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    async with grpc.aio.insecure_channel(address) as channel:
        yield pb_grpc.SessionServiceStub(channel)
    await server.stop(None)


def handled(method: str, code: str) -> float:
    labels = {"service": "sessions", "grpc_method": method, "grpc_code": code}
    return REGISTRY.get_sample_value("rhone_grpc_server_handled_total", labels) or 0.0


def batched(request: pb.CommitTurnRequest, request_id: str) -> pb.BatchedCommit:
    return pb.BatchedCommit(commit=request, call_metadata={"x-request-id": request_id})


async def test_each_commit_of_a_batch_is_done_and_answered_on_its_own(
    store: SqlSessionStore, sessions: pb_grpc.SessionServiceStub
) -> None:
    taken = new_session_id()
    await store.commit_turn("t", taken, "", turn("first", "one"), None, create=True)
    leased = await store.begin_turn("t", "", LEASE)
    fresh = new_session_id()
    codes = ("OK", "ALREADY_EXISTS", "FAILED_PRECONDITION")
    before = {code: handled("CommitTurn", code) for code in codes}
    batches_before = handled("CommitTurns", "OK")

    reply = await sessions.CommitTurns(
        pb.CommitTurnsRequest(
            commits=[
                batched(
                    pb.CommitTurnRequest(
                        tenant_id="t",
                        session_id=fresh,
                        turn=turn("new", "made"),
                        create_session=True,
                    ),
                    "req_1",
                ),
                batched(
                    pb.CommitTurnRequest(
                        tenant_id="t", session_id=taken, turn=turn("x", "y"), create_session=True
                    ),
                    "req_2",
                ),
                batched(
                    pb.CommitTurnRequest(
                        tenant_id="t", session_id=taken, lease_id="not-its", turn=turn("x", "y")
                    ),
                    "req_3",
                ),
                batched(
                    pb.CommitTurnRequest(
                        tenant_id="t",
                        session_id=leased.session.id,
                        lease_id=leased.lease_id,
                        turn=turn("leased", "kept"),
                    ),
                    "req_4",
                ),
            ]
        )
    )

    made, exists, conflict, appended = reply.outcomes
    assert made.committed.version == 1 and made.committed.turn.session_id == fresh
    assert (exists.failed.code, exists.failed.detail) == (
        grpc.StatusCode.ALREADY_EXISTS.value[0],
        "session_exists",
    )
    assert exists.failed.message == (
        f"A session with id '{taken}' exists already; nothing was written."
    )
    assert (conflict.failed.code, conflict.failed.detail) == (
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
        "session_conflict",
    )
    assert appended.committed.version == 1
    assert appended.committed.turn.session_id == leased.session.id

    # What each left in the store: the two that failed wrote nothing.
    assert [texts([*t.input, t.output]) for t in await store.list_turns("t", fresh)] == [
        ["new", "made"]
    ]
    assert [texts([*t.input, t.output]) for t in await store.list_turns("t", taken)] == [
        ["first", "one"]
    ]
    kept = await store.list_turns("t", leased.session.id)
    assert [texts([*t.input, t.output]) for t in kept] == [["leased", "kept"]]
    # The lease was given back with the commit: the session takes its next call.
    again = await store.begin_turn("t", leased.session.id, LEASE)
    assert again.session.version == 1

    # Counted as four CommitTurns with their own codes, in one CommitTurns.
    after = {code: handled("CommitTurn", code) for code in codes}
    assert {code: after[code] - before[code] for code in codes} == {
        "OK": 2,
        "ALREADY_EXISTS": 1,
        "FAILED_PRECONDITION": 1,
    }
    assert handled("CommitTurns", "OK") - batches_before == 1


async def test_an_empty_batch_is_answered_empty(sessions: pb_grpc.SessionServiceStub) -> None:
    reply = await sessions.CommitTurns(pb.CommitTurnsRequest())
    assert list(reply.outcomes) == []


async def test_a_batch_sent_again_finds_what_it_kept(
    store: SqlSessionStore, sessions: pb_grpc.SessionServiceStub
) -> None:
    """The translator sends a batch once more when its replica went away with it: commits
    named by their turn's id are found, not written twice."""
    leased = await store.begin_turn("t", "", LEASE)
    fresh = new_session_id()
    made, appended = turn("new", "made"), turn("leased", "kept")
    made.id, appended.id = "turn_made", "turn_appended"
    request = pb.CommitTurnsRequest(
        commits=[
            batched(
                pb.CommitTurnRequest(
                    tenant_id="t", session_id=fresh, turn=made, create_session=True
                ),
                "req_1",
            ),
            batched(
                pb.CommitTurnRequest(
                    tenant_id="t",
                    session_id=leased.session.id,
                    lease_id=leased.lease_id,
                    turn=appended,
                ),
                "req_2",
            ),
        ]
    )
    first = await sessions.CommitTurns(request)
    again = await sessions.CommitTurns(request)
    assert [o.committed.version for o in again.outcomes] == [1, 1]
    assert [o.committed.turn.id for o in again.outcomes] == [
        o.committed.turn.id for o in first.outcomes
    ]
    assert [t.id for t in await store.list_turns("t", fresh)] == ["turn_made"]
    assert [t.id for t in await store.list_turns("t", leased.session.id)] == ["turn_appended"]
