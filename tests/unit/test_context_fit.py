"""The translator's side of long sessions, with stub peers: a continuing call asks the sessions
service only for turns it has not seen (the context cache), policies shape what the provider
gets, a compaction becomes the call's snapshot turn, and session affinity orders deployments
the same way for one session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from rhone import canonical as ev
from rhone.errors import RhoneError, make_failure
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import sessions_pb2 as spb
from services.providers.config import ProvidersSettings
from services.providers.routing import Router
from services.providers.routing_config import parse_routing_config
from services.providers.servicer import ProviderServicer
from services.translator.compaction.compactor import Compactor
from services.translator.compaction.sealing import CompactionSeal
from services.translator.compaction.summary import PREAMBLE
from services.translator.context_cache import ContextCache, held_bytes
from services.translator.context_fit import ContextFitter
from services.translator.context_policy import ContextPolicy
from services.translator.continuity import Continuity, compose
from services.translator.turns import TurnRunner


def text(role: int, value: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=value))])  # type: ignore[arg-type]


def words(n: int) -> str:
    return " ".join(["word"] * n)


class StubProviders:
    """Limits for any model; every Generate answers "ok" (or "gist" for a summary)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.requests: list[gen.GenerateRequest] = []
        # Refuses (context_length_exceeded) a call of this many messages or more; 0: never.
        self.refuse_from = 0
        self.summaries_fail = False

    async def GetModelLimits(self, request: Any, **_: Any) -> ppb.ModelLimits:
        return ppb.ModelLimits(context_window=self.window, max_output_tokens=self.window // 4)

    def Generate(self, request: gen.GenerateRequest, **_: Any) -> StubCall:
        sent = gen.GenerateRequest()
        sent.CopyFrom(request)  # as sent: a retry changes the caller's request in place
        self.requests.append(sent)
        if self.refuse_from and len(request.messages) >= self.refuse_from:
            refusal = make_failure(
                gen.ERROR_CODE_INVALID_REQUEST, "too long", detail="context_length_exceeded"
            )
            return StubCall([ev.failed(refusal)])
        summary = request.whole and len(request.messages) == 2
        if summary and self.summaries_fail:
            return StubCall([ev.failed(make_failure(gen.ERROR_CODE_UNAVAILABLE, "down"))])
        answer = "gist" if summary else "ok"
        response = gen.GenerateResponse(
            id="r", model=request.model, message=text(content.ROLE_ASSISTANT, answer)
        )
        return StubCall(list(ev.response_events(response)))

    def GenerateBatches(self, request: gen.GenerateRequest, **options: Any) -> StubCall:
        """The same answer, all its events in one message (what a fast upstream gives)."""
        return StubCall([gen.GenerationEvents(events=self.Generate(request, **options).events)])


class StubCall:
    """A streaming call as gRPC gives one: iterable, and cancellable."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def __aiter__(self) -> AsyncIterator[Any]:
        for event in self.events:
            yield event

    def cancel(self) -> None:
        pass


class StubSessions:
    """One session in memory (a first call's commit creates it under the call's id, in place of
    the one held); records what each BeginTurn asked for and sent back."""

    def __init__(self) -> None:
        self.id = "sess_1"
        self.turns: list[spb.Turn] = []
        self.begun: list[tuple[int, int]] = []  # (known_version, turns sent)

    def _context_from(self) -> int:
        starts = [i for i, t in enumerate(self.turns) if t.snapshot]
        return starts[-1] if starts else 0

    async def BeginTurn(self, request: spb.BeginTurnRequest) -> spb.BeginTurnResponse:
        version = len(self.turns)
        start = self._context_from()
        delta = 0 < request.known_version <= version and start < request.known_version
        first = request.known_version if delta else start
        sent = self.turns[first:]
        self.begun.append((request.known_version, len(sent)))
        context = [m for t in sent for m in [*t.input, t.output] if m.parts]
        return spb.BeginTurnResponse(
            session=spb.Session(id=self.id, version=version),
            lease_id="lease",
            context=context,
            context_is_delta=delta,
        )

    async def CommitTurn(
        self, request: spb.CommitTurnRequest, **options: Any
    ) -> spb.CommitTurnResponse:
        if request.create_session:  # the one session is now this new one
            assert not request.lease_id
            self.id, self.turns = request.session_id, []
        self.turns.append(request.turn)
        return spb.CommitTurnResponse(turn=request.turn, version=len(self.turns))

    async def CommitTurns(
        self, request: spb.CommitTurnsRequest, **options: Any
    ) -> spb.CommitTurnsResponse:
        """Each commit as CommitTurn (a subclass's too), its error as its own outcome."""
        outcomes = []
        for batched in request.commits:
            try:
                committed = await self.CommitTurn(batched.commit)
            except grpc.aio.AioRpcError as exc:
                detail = dict(exc.trailing_metadata() or ()).get("rhone-error-detail", "")
                status = spb.CallStatus(
                    code=exc.code().value[0], message=exc.details() or "", detail=str(detail)
                )
                outcomes.append(spb.CommitOutcome(failed=status))
            else:
                outcomes.append(spb.CommitOutcome(committed=committed))
        return spb.CommitTurnsResponse(outcomes=outcomes)

    async def AbortTurn(self, request: Any, **_: Any) -> spb.AbortTurnResponse:
        return spb.AbortTurnResponse()


def runner(window: int) -> tuple[TurnRunner, StubSessions, StubProviders]:
    sessions, providers = StubSessions(), StubProviders(window)
    turns = TurnRunner(sessions, providers, 60_000)  # type: ignore[arg-type]
    compactor = Compactor(providers, CompactionSeal(b"a test secret of enough bytes"))  # type: ignore[arg-type]
    turns.fitter = ContextFitter(providers, compactor)  # type: ignore[arg-type]
    turns.contexts = ContextCache(10, 1 << 30)
    return turns, sessions, providers


async def call(turns: TurnRunner, session: str, message: str, **policy: Any) -> gen.GenerateRequest:
    request = gen.GenerateRequest(model="m", messages=[text(content.ROLE_USER, message)])
    continuity = Continuity(session_id=session, context=ContextPolicy(**policy) if policy else None)
    turn = await turns.open("t", request, continuity)
    async for _ in turn.events():
        pass
    assert turn.completed
    return turn.composed.request


async def test_a_continuing_call_fetches_only_the_turns_it_has_not_seen():
    turns, sessions, _ = runner(window=100_000)
    await call(turns, "", "first")
    for n in range(2, 6):
        await call(turns, sessions.id, f"message {n}")
    # The first call begins nothing (its commit creates the session); after it, each BeginTurn
    # names the version the cache holds and gets no turn.
    assert sessions.begun == [(1, 0), (2, 0), (3, 0), (4, 0)]
    # Another writer's turn arrives as a delta of one.
    sessions.turns.append(
        spb.Turn(input=[text(content.ROLE_USER, "elsewhere")], output=text(4, "x"))
    )
    sent = await call(turns, sessions.id, "again")
    assert sessions.begun[-1] == (5, 1)
    assert [m.parts[0].text.text for m in sent.messages][-3:] == ["elsewhere", "x", "again"]
    cached = turns.contexts.get(sessions.id)
    assert cached is not None and cached.version == 7 and len(cached.sizes) == 14


async def test_a_session_whose_context_outgrows_the_cache_budget_is_fetched_whole_again():
    turns, sessions, _ = runner(window=1_000_000)
    turns.contexts = ContextCache(10, 64 << 10)
    await call(turns, "", words(2000))  # 10 KB a turn
    for n in range(2, 9):
        await call(turns, sessions.id, words(2000))
        cached = turns.contexts.get(sessions.id)
        held = 0 if cached is None else held_bytes(cached.messages)
        assert turns.contexts.held == held <= 64 << 10, n
    # Each call's turn was appended to the cached context until it outgrew the budget; from
    # then on nothing is cached, and BeginTurn sends the whole context.
    assert sessions.begun == [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (0, 6), (0, 7)]
    assert turns.contexts.get(sessions.id) is None


async def test_truncate_drops_the_oldest_turns_and_error_refuses():
    turns, sessions, providers = runner(window=200)
    await call(turns, "", words(40))
    for _ in range(3):
        await call(turns, sessions.id, words(40), strategy="truncate")
    sent = providers.requests[-1]
    assert len(sent.messages) < 7 and sent.messages[0].role == content.ROLE_USER
    with pytest.raises(RhoneError) as refused:
        await call(turns, sessions.id, words(40), strategy="error")
    assert refused.value.failure.detail == "context_length_exceeded"
    assert refused.value.failure.code == gen.ERROR_CODE_INVALID_REQUEST


async def test_compaction_is_recorded_as_the_calls_snapshot_turn():
    turns, sessions, providers = runner(window=400)
    await call(turns, "", words(60))
    for _ in range(4):
        await call(turns, sessions.id, words(60))
    snapshots = [t for t in sessions.turns if t.snapshot]
    assert len(snapshots) == 1
    summary = snapshots[0].input[0].parts[0].text.text
    assert summary == PREAMBLE + "gist"
    # The next call starts from the snapshot: no summary is made again.
    summaries = sum(1 for r in providers.requests if r.whole and len(r.messages) == 2)
    await call(turns, sessions.id, "short")
    assert sum(1 for r in providers.requests if r.whole and len(r.messages) == 2) == summaries


async def test_the_context_view_reports_a_compaction_without_making_it():
    _, _, providers = runner(window=100)
    fitter = ContextFitter(providers, None)  # type: ignore[arg-type]
    context = [text(content.ROLE_USER, words(40)), text(content.ROLE_ASSISTANT, words(40))]
    composed = compose(
        gen.GenerateRequest(model="m"), context, [text(content.ROLE_SYSTEM, "sys")], False
    )
    fitted = await fitter.fit("t", composed, ContextPolicy(), plan_only=True)
    assert fitted.action == "compact" and providers.requests == []


def test_one_session_lands_on_the_same_deployment_among_equals():
    config = parse_routing_config(
        {
            "models": {
                "pool": [{"provider": "openai", "model": f"m{i}", "priority": 0} for i in range(4)]
            }
        }
    )
    settings = ProvidersSettings(OPENAI_API_KEY="k")  # type: ignore[call-arg]
    servicer = ProviderServicer(settings, {}, Router(settings, config))

    def first(cache_key: str) -> str:
        request = gen.GenerateRequest(model="pool", cache_key=cache_key)
        return servicer.deployments(request)[0].model

    for key in ("rhone-a", "rhone-b", "rhone-c"):
        assert len({first(key) for _ in range(20)}) == 1
    # Without a key (no session) the weights spread the calls.
    assert len({first("") for _ in range(200)}) > 1
    # Different sessions spread over the deployments too.
    assert len({first(f"rhone-{i}") for i in range(50)}) > 1


async def test_a_provider_refusing_for_length_gets_the_call_fitted_again():
    turns, sessions, providers = runner(window=400)
    providers.refuse_from = 5
    await call(turns, "", words(60))
    await call(turns, sessions.id, words(60), strategy="truncate")
    # Rhone's estimate says three user messages fit; the provider says no: fitted once more.
    await call(turns, sessions.id, words(60), strategy="truncate")
    assert [len(r.messages) for r in providers.requests] == [1, 3, 5, 3]
    assert turns.fitter is not None and turns.fitter.calibration.scale("m", 100) == 151
    # Under `error` the provider's refusal is the answer: no second try.
    turns, sessions, providers = runner(window=400)
    providers.refuse_from = 3
    await call(turns, "", "short")
    with pytest.raises(AssertionError):  # the turn did not complete
        await call(turns, sessions.id, "short", strategy="error")
    assert [len(r.messages) for r in providers.requests] == [1, 3]


async def test_auto_truncates_when_the_summariser_fails_and_compact_does_not():
    turns, sessions, providers = runner(window=400)
    providers.summaries_fail = True
    await call(turns, "", words(60))
    for _ in range(4):
        await call(turns, sessions.id, words(60))
    assert not any(t.snapshot for t in sessions.turns)
    assert len(providers.requests[-1].messages) < 9
    with pytest.raises(RhoneError) as failed:
        await call(turns, sessions.id, words(60), strategy="compact")
    assert failed.value.failure.message == "down"


class _Unimplemented(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="Method not found!",
        )


class OlderProviders(StubProviders):
    """A providers replica from before GenerateBatches (a rolling upgrade)."""

    def __init__(self, window: int) -> None:
        super().__init__(window)
        self.batch_calls = 0

    def GenerateBatches(self, request: gen.GenerateRequest, **options: Any) -> StubCall:
        self.batch_calls += 1
        return _FailingCall(_Unimplemented())


class _FailingCall(StubCall):
    def __init__(self, error: Exception) -> None:
        super().__init__([])
        self.error = error

    async def __aiter__(self) -> AsyncIterator[Any]:
        raise self.error
        yield  # an async generator


async def test_a_providers_replica_without_generate_batches_is_asked_with_generate():
    sessions, providers = StubSessions(), OlderProviders(10_000)
    turns = TurnRunner(sessions, providers, 60_000)  # type: ignore[arg-type]
    for message in ("one", "two"):
        request = gen.GenerateRequest(model="m", messages=[text(content.ROLE_USER, message)])
        turn = await turns.open("t", request, Continuity(session_id="sess_1"))
        batches = [batch async for batch in turn.batches()]
        assert turn.completed
        assert [e.WhichOneof("event") for batch in batches for e in batch][-1] == "finished"
    # Asked once; every later call goes straight to Generate.
    assert providers.batch_calls == 1
    assert len(providers.requests) == 2
    assert [t.output.parts[0].text.text for t in sessions.turns] == ["ok", "ok"]
