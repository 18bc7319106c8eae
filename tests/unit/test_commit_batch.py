"""Group commit (services/translator/commit_batch.py): commits that are ready together go to
the sessions service in one CommitTurns; each caller still gets its own answer or its own
error, a lone commit is sent at once, and a sessions replica without CommitTurns gets
CommitTurns' commits one by one."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import pytest

from rhone.observability import scope
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from services.translator import commit_batch
from services.translator.commit_batch import CommitBatcher
from services.translator.turns import rpc_failure


def commit(n: int) -> spb.CommitTurnRequest:
    return spb.CommitTurnRequest(tenant_id="t", session_id=f"sess_{n}", turn=spb.Turn(id=f"t{n}"))


def busy(session_id: str) -> spb.CommitOutcome:
    return spb.CommitOutcome(
        failed=spb.CallStatus(
            code=grpc.StatusCode.ABORTED.value[0],
            message=f"Session '{session_id}' is busy with another call.",
            detail="session_busy",
        )
    )


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class Sessions:
    """Records each batch; answers each commit with its turn, or as `answer` says; a batch
    waits for `gate` when one is set."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.timeouts: list[float | None] = []
        self.metadata: list[dict[str, str]] = []
        self.single: list[tuple[str, Any]] = []
        self.gate: asyncio.Event | None = None
        self.fail_batch: grpc.aio.AioRpcError | None = None
        self.failures_left = 1_000
        self.arrived = asyncio.Condition()

    async def sent(self, count: int) -> None:
        """Until `count` batches have come."""
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.batches) >= count), 5)

    def answer(self, request: spb.CommitTurnRequest) -> spb.CommitOutcome:
        if request.session_id == "sess_busy":
            return busy(request.session_id)
        turn = spb.Turn(id=request.turn.id, session_id=request.session_id, seq=1)
        return spb.CommitOutcome(committed=spb.CommitTurnResponse(turn=turn, version=1))

    async def CommitTurns(
        self, request: spb.CommitTurnsRequest, **options: Any
    ) -> spb.CommitTurnsResponse:
        self.batches.append([b.commit.session_id for b in request.commits])
        self.timeouts.append(options.get("timeout"))
        self.metadata += [dict(b.call_metadata) for b in request.commits]
        async with self.arrived:
            self.arrived.notify_all()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_batch is not None and self.failures_left > 0:
            self.failures_left -= 1
            raise self.fail_batch
        return spb.CommitTurnsResponse(outcomes=[self.answer(b.commit) for b in request.commits])

    async def CommitTurn(
        self, request: spb.CommitTurnRequest, metadata: Any = None, **options: Any
    ) -> spb.CommitTurnResponse:
        self.single.append((request.session_id, metadata))
        return self.answer(request).committed


class OlderSessions(Sessions):
    """A replica from before CommitTurns."""

    async def CommitTurns(
        self, request: spb.CommitTurnsRequest, **options: Any
    ) -> spb.CommitTurnsResponse:
        self.batches.append([b.commit.session_id for b in request.commits])
        raise rpc_error(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


def batcher(sessions: Sessions) -> CommitBatcher:
    return CommitBatcher(sessions)  # type: ignore[arg-type]


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits wait for the batch that is out however slow it is (the tests hold it)."""
    monkeypatch.setattr(commit_batch, "STALL_S", 60.0)


async def test_commits_ready_together_go_in_one_batch_and_each_gets_its_own_turn() -> None:
    sessions = Sessions()
    commits = batcher(sessions)
    answers = await asyncio.gather(*(commits.commit(commit(n)) for n in range(5)))
    assert sessions.batches == [[f"sess_{n}" for n in range(5)]]
    assert [a.turn.session_id for a in answers] == [f"sess_{n}" for n in range(5)]
    assert [a.turn.id for a in answers] == [f"t{n}" for n in range(5)]


async def test_a_lone_commit_is_sent_at_once() -> None:
    sessions = Sessions()
    commits = batcher(sessions)
    answer = await asyncio.wait_for(commits.commit(commit(1)), timeout=5)
    assert answer.turn.session_id == "sess_1" and sessions.batches == [["sess_1"]]
    # And the next one too, in a batch of its own: nothing was left waiting.
    await commits.commit(commit(2))
    assert sessions.batches == [["sess_1"], ["sess_2"]]


async def test_commits_that_arrive_while_a_batch_is_out_wait_and_go_together(
    patient: None,
) -> None:
    sessions = Sessions()
    sessions.gate = asyncio.Event()
    commits = batcher(sessions)
    first = asyncio.ensure_future(commits.commit(commit(0)))
    await sessions.sent(1)
    later = [asyncio.ensure_future(commits.commit(commit(n))) for n in range(1, 4)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert sessions.batches == [["sess_0"]]  # the others wait for the one out
    sessions.gate.set()
    await asyncio.gather(first, *later)
    assert sessions.batches == [["sess_0"], ["sess_1", "sess_2", "sess_3"]]


async def test_a_slow_batch_holds_the_next_commits_back_for_a_while_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commit_batch, "STALL_S", 0.1)
    sessions = Sessions()
    sessions.gate = asyncio.Event()  # never answered until the end
    commits = batcher(sessions)
    calls = [asyncio.ensure_future(commits.commit(commit(0)))]
    await sessions.sent(1)
    for n in range(1, 1 + commit_batch.MAX_IN_FLIGHT + 1):
        # Each commit after the first waits out the stall behind the batches out, then goes.
        calls.append(asyncio.ensure_future(commits.commit(commit(n))))
        before = len(sessions.batches)
        await asyncio.sleep(0.01)
        assert len(sessions.batches) == before  # held back...
        if n < commit_batch.MAX_IN_FLIGHT:
            await sessions.sent(before + 1)  # ...not for long
    # MAX_IN_FLIGHT batches are out: the rest wait for one of them to be answered.
    await asyncio.sleep(0.2)
    assert len(sessions.batches) == commit_batch.MAX_IN_FLIGHT
    sessions.gate.set()
    await asyncio.gather(*calls)
    assert sorted(sid for batch in sessions.batches for sid in batch) == sorted(
        f"sess_{n}" for n in range(len(calls))
    )


async def test_one_commits_error_is_its_own() -> None:
    sessions = Sessions()
    commits = batcher(sessions)
    results = await asyncio.gather(
        commits.commit(commit(1)),
        commits.commit(spb.CommitTurnRequest(session_id="sess_busy")),
        commits.commit(commit(2)),
        return_exceptions=True,
    )
    assert len(sessions.batches) == 1
    ok_1, error, ok_2 = results
    assert isinstance(ok_1, spb.CommitTurnResponse) and ok_1.turn.session_id == "sess_1"
    assert isinstance(ok_2, spb.CommitTurnResponse) and ok_2.turn.session_id == "sess_2"
    assert isinstance(error, grpc.aio.AioRpcError)
    assert error.code() == grpc.StatusCode.ABORTED
    assert error.details() == "Session 'sess_busy' is busy with another call."
    # Read as the error of a CommitTurn of its own (a client's 409 session_busy).
    failure = rpc_failure(error, what="session").failure
    assert (failure.code, failure.detail) == (gen.ERROR_CODE_CONFLICT, "session_busy")


async def test_a_batch_the_transport_failed_fails_each_of_its_commits() -> None:
    sessions = Sessions()
    sessions.fail_batch = rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused")
    commits = batcher(sessions)
    results = await asyncio.gather(
        *(commits.commit(commit(n)) for n in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in results)
    assert {r.code() for r in results} == {grpc.StatusCode.UNAVAILABLE}  # type: ignore[union-attr]
    assert len(sessions.batches) == 2  # sent once more, then given up
    # And the batcher goes on: the next commit is sent.
    sessions.fail_batch = None
    assert (await commits.commit(commit(9))).turn.session_id == "sess_9"


async def test_a_commit_cancelled_before_its_batch_leaves_is_not_sent(patient: None) -> None:
    sessions = Sessions()
    sessions.gate = asyncio.Event()
    commits = batcher(sessions)
    first = asyncio.ensure_future(commits.commit(commit(0)))
    await sessions.sent(1)
    gone = asyncio.ensure_future(commits.commit(commit(1)))
    kept = asyncio.ensure_future(commits.commit(commit(2)))
    await asyncio.sleep(0)
    gone.cancel()
    sessions.gate.set()
    await asyncio.gather(first, kept)
    assert gone.cancelled()
    assert sessions.batches == [["sess_0"], ["sess_2"]]


async def test_each_commit_carries_its_own_calls_ids() -> None:
    sessions = Sessions()
    commits = batcher(sessions)

    async def in_call(n: int) -> None:
        scope.enter(scope.CallScope(request_id=f"req_{n}", tenant="t", session_id=f"sess_{n}"))
        await commits.commit(commit(n))

    await asyncio.gather(in_call(1), in_call(2))
    assert len(sessions.batches) == 1
    assert [m.get("x-request-id") for m in sessions.metadata] == ["req_1", "req_2"]
    assert [m.get("rhone-session") for m in sessions.metadata] == ["sess_1", "sess_2"]


async def test_a_replica_without_commit_turns_gets_them_one_by_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sessions = OlderSessions()
    commits = batcher(sessions)

    async def in_call(n: int) -> spb.CommitTurnResponse:
        scope.enter(scope.CallScope(request_id=f"req_{n}"))
        return await commits.commit(commit(n))

    with caplog.at_level(logging.WARNING, logger="rhone.translator.commits"):
        answers = await asyncio.gather(in_call(1), in_call(2))
        assert [a.turn.session_id for a in answers] == ["sess_1", "sess_2"]
        # The batch's commits went again, each with its call's ids.
        assert [(sid, dict(md)["x-request-id"]) for sid, md in sessions.single] == [
            ("sess_1", "req_1"),
            ("sess_2", "req_2"),
        ]
        await commits.commit(commit(3))
    assert len(sessions.batches) == 1  # never asked again
    assert [sid for sid, _ in sessions.single] == ["sess_1", "sess_2", "sess_3"]
    assert len([r for r in caplog.records if "CommitTurns" in r.getMessage()]) == 1


async def test_a_batch_holds_so_many_bytes_and_what_it_leaves_goes_at_once(
    monkeypatch: pytest.MonkeyPatch, patient: None
) -> None:
    monkeypatch.setattr(commit_batch, "MAX_BATCH_BYTES", 10_000)
    sessions = Sessions()
    sessions.gate = asyncio.Event()

    def sized(n: int, text_bytes: int) -> spb.CommitTurnRequest:
        request = commit(n)
        request.turn.response_id = "x" * text_bytes
        return request

    commits = batcher(sessions)
    calls = [
        asyncio.ensure_future(commits.commit(sized(0, 4_000))),
        asyncio.ensure_future(commits.commit(sized(1, 4_000))),
        asyncio.ensure_future(commits.commit(sized(2, 4_000))),  # past 10,000 with the two
        asyncio.ensure_future(commits.commit(sized(3, 20_000))),  # larger than a batch: alone
        asyncio.ensure_future(commits.commit(sized(4, 10))),
    ]
    # Though the first batch is not answered (and commits wait for a batch that is out), what
    # it could not carry goes without waiting, up to MAX_IN_FLIGHT batches.
    await sessions.sent(4)
    assert sessions.batches == [["sess_0", "sess_1"], ["sess_2"], ["sess_3"], ["sess_4"]]
    sessions.gate.set()
    await asyncio.gather(*calls)


@pytest.mark.parametrize("code", [grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE])
async def test_a_batch_a_stopping_replica_dropped_is_sent_once_more(
    code: grpc.StatusCode,
) -> None:
    sessions = Sessions()
    sessions.fail_batch = rpc_error(code, "the replica went away")
    sessions.failures_left = 1
    commits = batcher(sessions)
    answers = await asyncio.gather(*(commits.commit(commit(n)) for n in range(3)))
    assert [a.turn.session_id for a in answers] == ["sess_0", "sess_1", "sess_2"]
    assert sessions.batches == [["sess_0", "sess_1", "sess_2"]] * 2


async def test_a_batch_the_replica_refused_is_not_sent_again() -> None:
    sessions = Sessions()
    sessions.fail_batch = rpc_error(grpc.StatusCode.PERMISSION_DENIED, "no")
    commits = batcher(sessions)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await commits.commit(commit(1))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(sessions.batches) == 1


async def test_a_large_commit_has_a_longer_deadline() -> None:
    """A turn of tens of MB is serialized, sent and written in one unit: it gets a second more
    than the channel's 5 s for every 4 MiB."""
    sessions = Sessions()
    commits = batcher(sessions)
    small = spb.CommitTurnRequest(session_id="sess_small", turn=spb.Turn(id="turn_small"))
    await commits.commit(small)
    big = spb.CommitTurnRequest(session_id="sess_big", turn=spb.Turn(id="turn_big"))
    big.turn.response_settings_json = "x" * (40 * 1024 * 1024)
    await commits.commit(big)
    assert sessions.timeouts[0] == pytest.approx(5.0, abs=0.01)
    assert sessions.timeouts[1] == pytest.approx(15.0, abs=0.1)
