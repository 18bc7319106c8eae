"""A call that names no session skips BeginTurn: the translator makes the session's id and its
CommitTurn creates the session with the call's turn (services/translator/turns.py). With stub
peers: what each first call asks of the sessions service, and the fallback to BeginTurn when a
sessions replica older than create_session answers."""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
import pytest

from rhone import canonical as ev
from rhone.errors import make_failure
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import translator_pb2 as tpb
from services.translator.context_cache import ContextCache
from services.translator.continuity import Continuity
from services.translator.turns import OpenTurn, TurnRunner
from tests.unit.test_context_fit import StubCall, StubProviders, StubSessions, text

SESSION_ID = re.compile(r"sess_[0-9a-f]{32}")


class CountedSessions(StubSessions):
    """Every request the sessions service got, by method."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, Any]] = []

    async def BeginTurn(self, request: spb.BeginTurnRequest) -> spb.BeginTurnResponse:
        self.asked.append(("BeginTurn", request))
        return await super().BeginTurn(request)

    async def CommitTurn(
        self, request: spb.CommitTurnRequest, **options: Any
    ) -> spb.CommitTurnResponse:
        self.asked.append(("CommitTurn", request))
        return await super().CommitTurn(request)

    async def AbortTurn(self, request: Any, **_: Any) -> spb.AbortTurnResponse:
        self.asked.append(("AbortTurn", request))
        return spb.AbortTurnResponse()

    def methods(self) -> list[str]:
        return [method for method, _ in self.asked]


class OlderSessions(CountedSessions):
    """A sessions replica from before create_session (a rolling upgrade): a commit is an
    append under the lease BeginTurn gave, whatever else the request says."""

    async def CommitTurn(
        self, request: spb.CommitTurnRequest, **options: Any
    ) -> spb.CommitTurnResponse:
        if request.lease_id != "lease" or request.session_id != self.id:
            self.asked.append(("CommitTurn", request))
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(("rhone-error-detail", "session_conflict")),
                f"Session '{request.session_id}' was deleted or taken over by another call.",
            )
        return await super().CommitTurn(request)


class FailingProviders(StubProviders):
    def GenerateBatches(self, request: gen.GenerateRequest, **options: Any) -> StubCall:
        failure = make_failure(gen.ERROR_CODE_UNAVAILABLE, "the upstream is down")
        return StubCall([gen.GenerationEvents(events=[ev.failed(failure)])])


async def first_call(turns: TurnRunner, message: str = "hello", **continuity: Any) -> OpenTurn:
    request = gen.GenerateRequest(model="m", messages=[text(content.ROLE_USER, message)])
    turn = await turns.open("t", request, Continuity(**continuity))
    async for _ in turn.events():
        pass
    return turn


async def test_a_first_call_creates_its_session_with_its_turn_and_no_begin_turn():
    sessions = CountedSessions()
    turns = TurnRunner(sessions, StubProviders(10_000), 60_000)  # type: ignore[arg-type]
    turns.contexts = ContextCache(10, 1 << 30)

    turn = await first_call(turns)

    assert turn.completed and SESSION_ID.fullmatch(turn.session_id)
    assert turn.existing_session_id == turn.session_id
    assert sessions.methods() == ["CommitTurn"]
    commit = sessions.asked[0][1]
    assert commit.create_session and commit.session_id == turn.session_id
    assert commit.tenant_id == "t" and not commit.lease_id
    assert [m.parts[0].text.text for m in commit.turn.input] == ["hello"]
    # The next call names it and continues it, from the context the first call cached.
    request = gen.GenerateRequest(model="m", messages=[text(content.ROLE_USER, "again")])
    second = await turns.open("t", request, Continuity(session_id=turn.session_id))
    async for _ in second.events():
        pass
    begin = sessions.asked[1][1]
    assert sessions.methods() == ["CommitTurn", "BeginTurn", "CommitTurn"]
    assert begin.session_id == turn.session_id and begin.known_version == 1
    assert not sessions.asked[2][1].create_session


async def test_each_first_call_makes_a_session_id_of_its_own():
    turns = TurnRunner(CountedSessions(), StubProviders(10_000), 60_000)  # type: ignore[arg-type]
    ids = {(await first_call(turns)).session_id for _ in range(3)}
    assert len(ids) == 3


async def test_a_failed_first_call_asks_the_sessions_service_nothing():
    sessions = CountedSessions()
    turns = TurnRunner(sessions, FailingProviders(10_000), 60_000)  # type: ignore[arg-type]

    turn = await first_call(turns)

    assert not turn.completed and turn.accumulator.failure is not None
    assert sessions.asked == [] and turn.committed is None
    # Its usage record names no session: none was made.
    assert turn.existing_session_id == ""


async def test_a_call_that_records_nothing_creates_nothing():
    sessions = CountedSessions()
    turns = TurnRunner(sessions, StubProviders(10_000), 60_000)  # type: ignore[arg-type]
    turn = await first_call(turns, record=False)
    assert turn.completed and turn.session_id == "" and sessions.asked == []


async def test_recording_a_call_continued_from_a_kept_response_creates_its_session():
    sessions = CountedSessions()
    turns = TurnRunner(sessions, StubProviders(10_000), 60_000)  # type: ignore[arg-type]
    kept = tpb.KeptResponse(
        response_id="resp_1",
        context=[text(content.ROLE_USER, "hi"), text(content.ROLE_ASSISTANT, "hello")],
    )

    turn = await first_call(turns, "more", from_response_id="resp_1", kept=kept)

    assert turn.completed and sessions.methods() == ["CommitTurn"]
    commit = sessions.asked[0][1]
    assert commit.create_session and commit.session_id == turn.session_id
    assert commit.turn.snapshot
    assert [m.parts[0].text.text for m in commit.turn.input] == ["hi", "hello", "more"]


async def test_an_older_sessions_replica_makes_first_calls_begin_with_begin_turn(
    caplog: pytest.LogCaptureFixture,
):
    sessions = OlderSessions()
    turns = TurnRunner(sessions, StubProviders(10_000), 60_000)  # type: ignore[arg-type]

    with caplog.at_level(logging.WARNING, logger="rhone.translator.turns"):
        turn = await first_call(turns, "one")

    # Its turn is recorded all the same, in the session BeginTurn made, which the call names.
    assert turn.completed and turn.session_id == sessions.id == "sess_1"
    assert sessions.methods() == ["CommitTurn", "BeginTurn", "CommitTurn"]
    assert [t.input[0].parts[0].text.text for t in sessions.turns] == ["one"]
    assert "first calls begin with BeginTurn from now on" in caplog.text
    # From now on, a first call begins with BeginTurn.
    sessions.asked.clear()
    sessions.turns.clear()
    turn = await first_call(turns, "two")
    assert turn.completed and sessions.methods() == ["BeginTurn", "CommitTurn"]
    assert not sessions.asked[1][1].create_session


async def test_a_refused_first_commit_on_a_current_replica_is_the_calls_failure():
    class TakenId(CountedSessions):
        async def CommitTurn(
            self, request: spb.CommitTurnRequest, **options: Any
        ) -> spb.CommitTurnResponse:
            self.asked.append(("CommitTurn", request))
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.ALREADY_EXISTS,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(("rhone-error-detail", "session_exists")),
                "A session with that id exists already; nothing was written.",
            )

    sessions = TakenId()
    turns = TurnRunner(sessions, StubProviders(10_000), 60_000)  # type: ignore[arg-type]
    turn = await first_call(turns)
    failure = turn.accumulator.failure
    assert not turn.completed and failure is not None
    assert failure.detail == "session_exists" and failure.code == gen.ERROR_CODE_CONFLICT
    assert sessions.methods() == ["CommitTurn"] and turns.creates
