"""A call's lease is renewed from BeginTurn until the commit or the release
(services/translator/lease.py), with stub peers: every third of its time, through a slow
compaction before any generation; a lease found taken over ends the call before it generates."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from rhone.runtime import deadlines
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from services.translator.commit_batch import CommitBatcher
from services.translator.continuity import Continuity
from services.translator.lease import LeaseKeeper
from tests.unit.test_context_fit import StubCall, StubProviders, StubSessions, runner, text, words

LEASE_MS = 300  # renewed every 100 ms


class Renewals:
    """RenewLease, counted; refused (the lease taken over) when `refuse` is set."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.count = 0
        self.refuse = refuse

    async def RenewLease(self, request: spb.RenewLeaseRequest, **_: Any) -> Any:
        self.count += 1
        if self.refuse:
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.FAILED_PRECONDITION,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                "The lease was lost.",
            )
        return spb.RenewLeaseResponse(lease_ms=request.lease_ms)


def keeper(renewals: Renewals) -> LeaseKeeper:
    return LeaseKeeper(
        renewals,  # type: ignore[arg-type]
        tenant_id="t",
        session_id="sess_1",
        lease_id="lease",
        lease_ms=LEASE_MS,
    )


async def test_a_lease_is_renewed_every_third_of_its_time_until_stopped():
    renewals = Renewals()
    held = keeper(renewals)
    await asyncio.sleep(0.55)
    held.stop()
    renewed = renewals.count
    assert renewed >= 2 and held.lost is None
    await asyncio.sleep(0.25)
    assert renewals.count == renewed


async def test_a_refused_renewal_is_the_lost_lease_and_the_last():
    renewals = Renewals(refuse=True)
    held = keeper(renewals)
    await asyncio.sleep(0.35)
    assert held.lost is not None and held.lost.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert renewals.count == 1
    held.stop()


async def test_renewals_end_with_the_calls_deadline():
    renewals = Renewals()

    def within_a_deadline() -> LeaseKeeper:
        deadlines._DEADLINE.set(time.monotonic() + 0.25)
        return keeper(renewals)

    held = contextvars.copy_context().run(within_a_deadline)
    await asyncio.sleep(0.7)
    # At 0.1 and 0.2 s; from 0.3 s on the call's deadline had passed (else six more).
    assert renewals.count <= 2
    held.stop()


class LeasedSessions(StubSessions):
    """Grants a short lease, renewals counted (or refused)."""

    def __init__(self, renewals: Renewals) -> None:
        super().__init__()
        self.renewals = renewals
        self.aborted = 0

    async def BeginTurn(self, request: spb.BeginTurnRequest) -> spb.BeginTurnResponse:
        begun = await super().BeginTurn(request)
        begun.lease_ms = LEASE_MS
        return begun

    async def RenewLease(self, request: spb.RenewLeaseRequest, **kwargs: Any) -> Any:
        return await self.renewals.RenewLease(request, **kwargs)

    async def AbortTurn(self, request: Any, **_: Any) -> spb.AbortTurnResponse:
        self.aborted += 1
        return spb.AbortTurnResponse()


class SlowSummaries(StubProviders):
    """Summaries that take two leases."""

    def Generate(self, request: gen.GenerateRequest, **kwargs: Any) -> StubCall:
        call = super().Generate(request, **kwargs)
        if request.whole and len(request.messages) == 2:
            return SlowCall(call.events)
        return call


class SlowCall(StubCall):
    async def __aiter__(self) -> AsyncIterator[Any]:
        await asyncio.sleep(2 * LEASE_MS / 1000)
        for event in self.events:
            yield event


def compacting_runner(renewals: Renewals) -> tuple[Any, LeasedSessions, SlowSummaries]:
    turns, _, _ = runner(window=400)
    sessions, providers = LeasedSessions(renewals), SlowSummaries(400)
    turns.sessions = sessions  # type: ignore[assignment]
    turns.commits = CommitBatcher(sessions)  # type: ignore[arg-type]
    turns.providers = providers  # type: ignore[assignment]
    assert turns.fitter is not None
    turns.fitter.providers = providers  # type: ignore[assignment]
    turns.fitter.compactor.providers = providers  # type: ignore[assignment]
    for _ in range(5):  # past the window: the next call compacts
        sessions.turns.append(
            spb.Turn(
                input=[text(content.ROLE_USER, words(60))],
                output=text(content.ROLE_ASSISTANT, "ok"),
            )
        )
    return turns, sessions, providers


async def a_call(turns: Any) -> tuple[Any, list[gen.GenerationEvent]]:
    request = gen.GenerateRequest(model="m", messages=[text(content.ROLE_USER, words(60))])
    turn = await turns.open("t", request, Continuity(session_id="sess_1"))
    return turn, [event async for event in turn.events()]


async def test_the_lease_is_renewed_while_the_context_is_compacted():
    renewals = Renewals()
    turns, sessions, _ = compacting_runner(renewals)
    turn, _ = await a_call(turns)
    assert turn.completed and sessions.turns[-1].snapshot
    # Two leases of summary: renewed before the answer was asked for.
    assert renewals.count >= 3
    renewed = renewals.count
    await asyncio.sleep(0.25)
    assert renewals.count == renewed  # and no more after the commit


async def test_a_lease_taken_over_while_compacting_ends_the_call_before_it_generates():
    turns, sessions, providers = compacting_runner(Renewals(refuse=True))
    before = len(sessions.turns)
    turn, events = await a_call(turns)
    assert [e.failure.detail for e in events] == ["session_conflict"]
    assert not turn.completed and len(sessions.turns) == before
    assert len(providers.requests) == 1  # the summary only
    assert sessions.aborted == 1
