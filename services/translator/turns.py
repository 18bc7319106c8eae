"""One call's turn: take the session's lease, generate, record, give the lease back. A call that
names no session (a first call) takes no lease: it makes its new session's id itself and its
commit creates the session with its turn, so it skips BeginTurn; until then the id names
nothing, and a call that fails or is cancelled leaves no session behind.

The lease is short (the sessions service's RHONE_SESSION_LEASE_MS) and renewed every third of
it from BeginTurn until the turn is committed or the lease given back (lease.py), so a
translator that dies mid-call leaves its session busy for at most one lease time, however long
its calls compact and stream.

The turn is committed when the `finished` event arrives and before that event is passed on,
so that a client that starts its next call the moment it sees the end of this one finds the
session free and this turn in it. A failed or cancelled call commits nothing and releases the
lease: nothing half-written is ever replayed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import grpc
import orjson

from rhone.canonical import StreamAccumulator
from rhone.errors import RhoneError
from rhone.ids import new_session_id, new_turn_id
from rhone.observability import scope
from rhone.rpc_errors import failure_of_rpc
from rhone.runtime import deadlines
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc, sessions_pb2_grpc
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import translator_pb2 as tpb
from services.translator.commit_batch import CommitBatcher
from services.translator.context_cache import CachedContext, ContextCache
from services.translator.context_fit import ContextFitter, Fitted
from services.translator.context_policy import EXCEEDED, ContextPolicy, stored_policy
from services.translator.continuity import Composed, Continuity, compose, split_instructions
from services.translator.lease import LeaseKeeper
from services.translator.prompt_cache import mark_stable_prefix, strip_breakpoints

log = logging.getLogger("rhone.translator.turns")


_PARAM_OF = {
    "session_not_found": "rhone.session_id",
    "response_not_found": "previous_response_id",
    "turn_not_found": "previous_response_id",
}
# How many times a whole answer starts over when its providers replica is lost midway.
_MAX_RESTARTS = 2
# What a sessions replica older than CommitTurn's create_session answers a commit that asks
# it to create the session: it looks for the session's lease and finds none.
_OLDER_THAN_CREATE = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)


def rpc_failure(exc: grpc.aio.AioRpcError, *, what: str) -> RhoneError:
    """A peer's gRPC error as the canonical failure a surface renders (rhone/rpc_errors.py);
    ``what`` is the peer ("session", "providers") and the prefix of its default details."""
    return RhoneError(
        failure_of_rpc(
            exc,
            service=what,
            details={
                grpc.StatusCode.NOT_FOUND: f"{what}_not_found",
                grpc.StatusCode.FAILED_PRECONDITION: f"{what}_conflict",
            },
            params=_PARAM_OF,
        )
    )


class TurnRunner:
    def __init__(
        self,
        sessions: sessions_pb2_grpc.SessionServiceStub,
        providers: providers_pb2_grpc.ProviderServiceStub,
        lease_ms: int = 0,
    ) -> None:
        # The lease time asked for; 0: the sessions service's own.
        self.sessions = sessions
        # Turns go to the sessions service in batches when several are ready together.
        self.commits = CommitBatcher(sessions)
        self.providers = providers
        self.lease_ms = lease_ms
        # False once a providers replica answered GenerateBatches with UNIMPLEMENTED.
        self.batched = True
        # False once one answered GenerateWhole with UNIMPLEMENTED: whole answers then come
        # as a stream too.
        self.whole = True
        # False once a sessions replica answered a CommitTurn creating its session as one
        # older than create_session does: first calls then begin with BeginTurn.
        self.creates = True
        self._background: set[asyncio.Future[None]] = set()
        # Context windows and policies (context_fit.py); None: calls are sent as composed.
        self.fitter: ContextFitter | None = None
        # Recent sessions' contexts by version (context_cache.py).
        self.contexts = ContextCache(0, 0)

    async def open(
        self,
        tenant_id: str,
        request: gen.GenerateRequest,
        continuity: Continuity,
        *,
        response_id: str = "",
    ) -> OpenTurn:
        """Takes the session's lease, or, for a call that records nothing, only reads the
        context; a recording call that names no session makes its id, to be created with the
        call's turn."""
        if continuity.kept is not None:
            return await self._open_from_kept(tenant_id, request, continuity, response_id)
        lease_ms = 0
        cached = (
            self.contexts.get(continuity.session_id)
            if continuity.session_id and not continuity.from_response_id
            else None
        )
        creates = (
            continuity.record
            and self.creates
            and not (continuity.session_id or continuity.from_response_id)
        )
        try:
            if creates:  # nothing to fetch: a new session's context is empty
                session = spb.Session(id=new_session_id(), tenant_id=tenant_id)
                lease_id, stored = "", CachedContext.of(0, [])
            elif continuity.record:
                begun = await self._begin(
                    spb.BeginTurnRequest(
                        tenant_id=tenant_id,
                        session_id=continuity.session_id,
                        from_response_id=continuity.from_response_id,
                        lease_ms=self.lease_ms,
                        known_version=cached.version if cached else 0,
                    )
                )
                session, lease_id = begun.session, begun.lease_id
                stored = (
                    cached.extended(session.version, list(begun.context))
                    if cached and begun.context_is_delta
                    else CachedContext.of(session.version, list(begun.context))
                )
                lease_ms = begun.lease_ms
            elif continuity.session_id or continuity.from_response_id:
                loaded = await self.sessions.LoadContext(
                    spb.LoadContextRequest(
                        tenant_id=tenant_id,
                        session_id=continuity.session_id,
                        from_response_id=continuity.from_response_id,
                    )
                )
                session, lease_id = loaded.session, ""
                stored = CachedContext.of(session.version, list(loaded.context))
            else:
                session, lease_id, stored = spb.Session(), "", CachedContext.of(0, [])
        except grpc.aio.AioRpcError as exc:
            raise rpc_failure(
                exc, what="response" if continuity.from_response_id else "session"
            ) from None
        composed = compose(
            request, stored.messages, list(session.instructions), continuity.stateless
        )
        turn = OpenTurn(
            self,
            tenant_id,
            session.id,
            lease_id,
            composed,
            response_id,
            lease_ms=lease_ms,
            creates=creates,
        )
        turn.stored = stored
        if self.fitter is not None and not continuity.stateless:
            policy = (continuity.context or ContextPolicy()).over(
                stored_policy(session.context_policy_json)
            )
            turn.policy = policy
            try:
                turn.fitted = await self.fitter.fit(
                    tenant_id, composed, policy, context_sizes=stored.sizes
                )
            except BaseException:
                await turn.release()
                raise
        if not continuity.stateless:
            mark_stable_prefix(composed, tenant_id, session.id)
        return turn

    async def _open_from_kept(
        self,
        tenant_id: str,
        request: gen.GenerateRequest,
        continuity: Continuity,
        response_id: str,
    ) -> OpenTurn:
        """Continues from a response the caller's socket kept (never stored). Recording such a
        call (`store: true`) starts a new session whose first turn is a snapshot of the whole
        transcript, as a stateless call's is."""
        kept = continuity.kept
        assert kept is not None
        composed = compose(request, list(kept.context), list(kept.instructions), False)
        if not continuity.record:
            return OpenTurn(self, tenant_id, "", "", composed, response_id)
        composed.turn_input = [*kept.context, *composed.turn_input]
        composed.snapshot = True
        if composed.instructions is None and kept.instructions:
            composed.instructions = list(kept.instructions)
        if self.creates:
            return OpenTurn(
                self, tenant_id, new_session_id(), "", composed, response_id, creates=True
            )
        try:
            begun = await self._begin(
                spb.BeginTurnRequest(tenant_id=tenant_id, lease_ms=self.lease_ms)
            )
        except grpc.aio.AioRpcError as exc:
            raise rpc_failure(exc, what="session") from None
        return OpenTurn(
            self,
            tenant_id,
            begun.session.id,
            begun.lease_id,
            composed,
            response_id,
            lease_ms=begun.lease_ms,
        )

    async def _begin(self, request: spb.BeginTurnRequest) -> spb.BeginTurnResponse:
        """BeginTurn, shielded: if the caller goes away while the sessions service is taking
        the lease, the lease is given back as soon as it is known, not left to expire."""
        begin = asyncio.ensure_future(self.sessions.BeginTurn(request))
        try:
            return await asyncio.shield(begin)
        except asyncio.CancelledError:
            late = asyncio.ensure_future(self._release_late(begin, request.tenant_id))
            self._background.add(late)
            late.add_done_callback(self._background.discard)
            raise

    async def _release_late(
        self, begin: asyncio.Future[spb.BeginTurnResponse], tenant_id: str
    ) -> None:
        try:
            begun = await begin
            await self.sessions.AbortTurn(
                spb.AbortTurnRequest(
                    tenant_id=tenant_id, session_id=begun.session.id, lease_id=begun.lease_id
                ),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("could not give back a lease taken for a cancelled call: %r", exc)


class OpenTurn:
    def __init__(
        self,
        runner: TurnRunner,
        tenant_id: str,
        session_id: str,
        lease_id: str,
        composed: Composed,
        response_id: str = "",
        *,
        lease_ms: int = 0,
        creates: bool = False,
    ) -> None:
        self.runner = runner
        self.tenant_id = tenant_id
        self.session_id = session_id
        # Without a lease the call records nothing (store: false), unless it `creates` its
        # session (session_id, made here) with its turn.
        self.lease_id = lease_id
        self.creates = creates
        self.composed = composed
        # The surface's id for this response, when the surface chooses it (Responses).
        self.response_id = response_id
        # What the surface's response repeats of the request, recorded with the turn.
        self.response_settings: dict[str, Any] | None = None
        self.committed: spb.Turn | None = None
        self.completed = False
        # The call's events folded as they pass: what is recorded, and a whole answer's body.
        self.accumulator = StreamAccumulator()
        self._released = not lease_id
        # The lease, renewed every third of the time granted (0: no renewals) from now until
        # the commit or the release: fitting the context and compacting it come first.
        self._lease = LeaseKeeper(
            runner.sessions,
            tenant_id=tenant_id,
            session_id=session_id,
            lease_id=lease_id,
            lease_ms=lease_ms,
        )
        # The session's stored context as of its version when the call began (for the
        # translator's context cache), and what the context policy did.
        self.stored: CachedContext | None = None
        self.fitted: Fitted | None = None
        # The context policy in force (None: no fitting, e.g. a stateless call).
        self.policy: ContextPolicy | None = None
        scope.note_session(session_id)

    @property
    def existing_session_id(self) -> str:
        """The session as it stands now: a first call's names nothing until its turn is
        committed (what its usage record names)."""
        return "" if self.creates and self.committed is None else self.session_id

    async def events(self, *, restartable: bool = False) -> AsyncIterator[gen.GenerationEvent]:
        """The call's canonical events, one by one (see `batches`)."""
        batches = self.batches(restartable=restartable)
        try:
            async for batch in batches:
                for event in batch:
                    yield event
        finally:
            await batches.aclose()

    async def batches(
        self, *, restartable: bool = False
    ) -> AsyncGenerator[list[gen.GenerationEvent], None]:
        """The call's canonical events, in the batches the providers service sent them
        (rhone/coalesce.py); the turn is recorded just before `finished` is passed on.

        `restartable`: the caller passes nothing on before the end (a whole answer), so a
        provider replica lost midway is replaced by a fresh call (see `_generate`)."""
        started_at = time.monotonic()
        generated = self._generate(restartable)
        try:
            lost = self._lease_lost()
            if lost is not None:  # taken over while the context was fitted: nothing generated
                yield [self._failed(lost)]
                return
            async for batch in generated:
                passed: list[gen.GenerationEvent] = []
                for event in batch:
                    lost = self._lease_lost()
                    if lost is not None:
                        passed.append(self._failed(lost))
                        yield passed
                        return
                    if self.response_id and event.HasField("started"):
                        event.started.id = self.response_id
                    accumulator = self.accumulator
                    accumulator.feed(event)
                    if event.HasField("finished"):
                        self._lease.stop()
                        if self.lease_id or self.creates:
                            failure = await self._commit(accumulator, started_at)
                            if failure is not None:
                                passed.append(self._failed(failure))
                                yield passed
                                return
                        self.completed = True
                    passed.append(event)
                    if event.HasField("failure"):
                        yield passed
                        return
                yield passed
        except grpc.aio.AioRpcError as exc:
            yield [self._failed(rpc_failure(exc, what="providers").failure)]
        finally:
            await generated.aclose()
            scope.note_response(
                self.composed.request.model, self.accumulator.response, self.accumulator.failure
            )
            await self.release()

    async def _generate(self, restartable: bool) -> AsyncGenerator[list[gen.GenerationEvent], None]:
        """The providers' events, in batches. Until the first event, the channel itself
        retries a call whose replica is lost (rhone/runtime/channels.py); after it, only a
        restartable call starts over, from an empty fold, on another replica. A refusal for
        length before anything was generated means Rhone's estimate was short: unless the
        policy is `error`, the context is fitted again with a more cautious estimate and the
        call made once more. A restartable call's events come in one unary GenerateWhole
        (cheaper than a stream). A providers replica older than GenerateWhole or
        GenerateBatches (a rolling upgrade) is asked with the stream it has."""
        restarts = 0
        refitted = False
        while True:
            runner = self.runner
            rpc, call = self._call(whole=restartable and runner.whole)
            try:
                messages = _messages(call, unary=rpc == "GenerateWhole")
                try:
                    first = await anext(messages)
                except StopAsyncIteration:
                    return
                if not refitted and _overflowed(first[0]) and await self._refit(first[0].failure):
                    refitted = True
                    continue
                yield first
                async for events in messages:
                    yield events
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED and rpc != "Generate":
                    if rpc == "GenerateWhole":
                        runner.whole = False
                    else:
                        runner.batched = False
                    log.info("the providers service has no %s; asking another way", rpc)
                    continue
                lost = exc.code() == grpc.StatusCode.UNAVAILABLE and not self.completed
                if not (restartable and lost and restarts < _MAX_RESTARTS):
                    raise
                restarts += 1
                log.warning("providers replica lost mid-answer; starting over (%d)", restarts)
                self.accumulator = StreamAccumulator()
            finally:
                call.cancel()

    def _call(self, *, whole: bool) -> tuple[str, Any]:
        """The providers call for this turn's request, and its method's name."""
        providers, request = self.runner.providers, self.composed.request
        if whole:
            rpc = "GenerateWhole"
        else:
            rpc = "GenerateBatches" if self.runner.batched else "Generate"
        return rpc, getattr(providers, rpc)(request, timeout=deadlines.remaining())

    async def _refit(self, refusal: gen.Failure) -> bool:
        fitter, policy = self.runner.fitter, self.policy
        if fitter is None or policy is None or policy.effective_strategy == "error":
            return False
        raw = self.fitted.raw if self.fitted is not None else 0
        fitter.calibration.distrust(self.composed.request.model, raw, refusal.message)
        try:
            fitted = await fitter.fit(self.tenant_id, self.composed, policy)
        except RhoneError:
            return False  # the provider's own refusal stands
        self.fitted = fitted
        return fitted.action != "none"

    def kept(self) -> tpb.KeptResponse:
        """What a socket keeps of this (completed) response so that its next call can continue
        from it: the instructions in force and the whole conversation, output included."""
        messages = list(self.composed.request.messages)
        instructions, context = split_instructions(messages)
        context.append(self.accumulator.result().message)
        return tpb.KeptResponse(
            response_id=self.response_id, instructions=instructions, context=context
        )

    def _lease_lost(self) -> gen.Failure | None:
        """The failure a call ends with once a renewal found its lease taken over."""
        lost = self._lease.lost
        return None if lost is None else rpc_failure(lost, what="session").failure

    def _failed(self, failure: gen.Failure) -> gen.GenerationEvent:
        """A failure of the turn itself, folded like the provider's own."""
        event = gen.GenerationEvent(failure=failure)
        self.accumulator.feed(event)
        return event

    async def _commit(
        self, accumulator: StreamAccumulator, started_at: float
    ) -> gen.Failure | None:
        response = accumulator.result()
        composed = self.composed
        turn = spb.Turn(
            id=new_turn_id(),  # so that a commit sent again is found, not doubled
            input=composed.turn_input,
            output=response.message,
            model=response.model,
            provider=response.provider,
            usage=response.usage,
            status=spb.TURN_STATUS_COMPLETED,
            duration_ms=int((time.monotonic() - started_at) * 1000),
            snapshot=composed.snapshot,
            finish_reason=response.finish_reason,
            response_id=self.response_id or response.id,
        )
        if self.response_settings is not None:
            turn.response_settings_json = orjson.dumps(self.response_settings).decode()
        # A client's cache breakpoints belong to its call: replayed later they would pile up
        # past the provider's limit (Anthropic takes four); Rhone places its own each call.
        strip_breakpoints(turn.input)
        request = spb.CommitTurnRequest(
            tenant_id=self.tenant_id,
            turn=turn,
            instructions=composed.instructions or [],
            set_instructions=composed.instructions is not None,
        )
        try:
            try:
                committed = await self._commit_request(request)
            except grpc.aio.AioRpcError as exc:
                if not (self.creates and exc.code() in _OLDER_THAN_CREATE):
                    raise
                await self._begin_instead()
                committed = await self._commit_request(request)
        except grpc.aio.AioRpcError as exc:
            return rpc_failure(exc, what="session").failure
        self.committed = committed.turn
        self._released = True
        self._remember(committed.version, response)
        return None

    async def _commit_request(self, request: spb.CommitTurnRequest) -> spb.CommitTurnResponse:
        request.session_id = self.session_id
        request.lease_id = self.lease_id
        request.create_session = self.creates
        return await self.runner.commits.commit(request)

    async def _begin_instead(self) -> None:
        """A sessions replica older than create_session looked for a lease on the session it
        was asked to create (a rolling upgrade): from now on this translator's first calls
        begin with BeginTurn, and this one records its turn in the session BeginTurn creates,
        under an id its client may not have been told (a stream's head is out already)."""
        runner = self.runner
        if runner.creates:
            runner.creates = False
            log.warning(
                "the sessions service does not create a session with its first turn "
                "(CommitTurn create_session); first calls begin with BeginTurn from now on"
            )
        begun = await runner._begin(
            spb.BeginTurnRequest(tenant_id=self.tenant_id, lease_ms=runner.lease_ms)
        )
        log.warning(
            "session %s was never created; its turn is recorded in session %s",
            self.session_id,
            begun.session.id,
        )
        self.session_id, self.lease_id, self.creates = begun.session.id, begun.lease_id, False
        self._released = False
        scope.note_session(self.session_id)

    def _remember(self, version: int, response: gen.GenerateResponse) -> None:
        """Keeps the session's context as of the committed version (context_cache.py), and
        calibrates the size estimate with the input tokens the provider counted."""
        runner = self.runner
        if self.fitted is not None and runner.fitter is not None:
            runner.fitter.observe(
                self.composed.request.model, self.fitted.raw, response.usage.input_tokens
            )
        if self.stored is None or self.stored.version + 1 != version:
            runner.contexts.drop(self.session_id)
            return
        turn = self.committed
        assert turn is not None
        added = [*turn.input, *([turn.output] if turn.output.parts else [])]
        base = CachedContext.of(0, []) if turn.snapshot else self.stored
        runner.contexts.put(self.session_id, base.extended(version, added))

    async def release(self) -> None:
        """Gives the lease back without recording anything (idempotent; survives cancel)."""
        self._lease.stop()
        if self._released:
            return
        self._released = True
        request = spb.AbortTurnRequest(
            tenant_id=self.tenant_id, session_id=self.session_id, lease_id=self.lease_id
        )
        try:
            await asyncio.shield(self.runner.sessions.AbortTurn(request, timeout=10))
        except (grpc.aio.AioRpcError, asyncio.CancelledError) as exc:
            # The lease expires by itself; the next call after that proceeds.
            log.warning("could not release session %s: %r", self.session_id, exc)


def _events_of(message: gen.GenerationEvents | gen.GenerationEvent) -> list[gen.GenerationEvent]:
    if isinstance(message, gen.GenerationEvents):
        return list(message.events)
    return [message]


async def _messages(call: Any, *, unary: bool) -> AsyncIterator[list[gen.GenerationEvent]]:
    """A providers call's events, a message's at a time: the one answer of a unary call (none
    when it holds no event), or each message of a stream."""
    if unary:
        answer = await call
        if answer.events:
            yield list(answer.events)
        return
    async for message in call:
        yield _events_of(message)


def _overflowed(event: gen.GenerationEvent) -> bool:
    return event.HasField("failure") and event.failure.detail == EXCEEDED
