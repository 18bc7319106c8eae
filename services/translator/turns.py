"""One call's turn: take the session's lease, generate, record, give the lease back.

The turn is committed when the `finished` event arrives and before that event is passed on,
so that a client that starts its next call the moment it sees the end of this one finds the
session free and this turn in it. A failed or cancelled call commits nothing and releases the
lease: nothing half-written is ever replayed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

import grpc

from rhone.canonical import StreamAccumulator
from rhone.errors import Code, RhoneError
from rhone.runtime import deadlines
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc, sessions_pb2_grpc
from rhone.v1 import sessions_pb2 as spb
from services.translator.continuity import Composed, Continuity, compose

log = logging.getLogger("rhone.translator.turns")


_PARAM_OF = {
    "session_not_found": "rhone.session_id",
    "response_not_found": "previous_response_id",
    "turn_not_found": "previous_response_id",
}
# How many times a whole answer starts over when its providers replica is lost midway.
_MAX_RESTARTS = 2
# The sessions service names each error in this trailing metadata key.
_DETAIL_KEY = "rhone-error-detail"


def _detail_of(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == _DETAIL_KEY:
            return str(value)
    return ""


def rpc_failure(exc: grpc.aio.AioRpcError, *, what: str) -> RhoneError:
    """A peer's gRPC error as the canonical failure a surface renders."""
    status, details = exc.code(), exc.details() or ""
    detail = _detail_of(exc)
    if status == grpc.StatusCode.NOT_FOUND:
        detail = detail or f"{what}_not_found"
        return RhoneError.of(
            Code.ERROR_CODE_NOT_FOUND, details, detail=detail, param=_PARAM_OF.get(detail, "")
        )
    if status == grpc.StatusCode.ABORTED:
        return RhoneError.of(Code.ERROR_CODE_CONFLICT, details, detail=detail or "session_busy")
    if status == grpc.StatusCode.FAILED_PRECONDITION:
        return RhoneError.of(Code.ERROR_CODE_CONFLICT, details, detail=detail or f"{what}_conflict")
    if status == grpc.StatusCode.INVALID_ARGUMENT:
        return RhoneError.invalid(details, detail=detail)
    if status in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        # RESOURCE_EXHAUSTED: the replica the call reached is at its concurrent-call limit.
        return RhoneError.of(Code.ERROR_CODE_UNAVAILABLE, f"The {what} service is unavailable.")
    return RhoneError.of(Code.ERROR_CODE_INTERNAL, f"The {what} service failed: {details}")


class TurnRunner:
    def __init__(
        self,
        sessions: sessions_pb2_grpc.SessionServiceStub,
        providers: providers_pb2_grpc.ProviderServiceStub,
        lease_ms: int,
    ) -> None:
        self.sessions = sessions
        self.providers = providers
        self.lease_ms = lease_ms
        self._background: set[asyncio.Future[None]] = set()

    async def open(
        self,
        tenant_id: str,
        request: gen.GenerateRequest,
        continuity: Continuity,
        *,
        response_id: str = "",
    ) -> OpenTurn:
        """Takes the session's lease (creating the session when none is named), or, for a call
        that records nothing, only reads the context."""
        try:
            if continuity.record:
                begun = await self._begin(
                    spb.BeginTurnRequest(
                        tenant_id=tenant_id,
                        session_id=continuity.session_id,
                        from_response_id=continuity.from_response_id,
                        lease_ms=self.lease_ms,
                    )
                )
                session, lease_id, context = begun.session, begun.lease_id, begun.context
            elif continuity.session_id or continuity.from_response_id:
                loaded = await self.sessions.LoadContext(
                    spb.LoadContextRequest(
                        tenant_id=tenant_id,
                        session_id=continuity.session_id,
                        from_response_id=continuity.from_response_id,
                    )
                )
                session, lease_id, context = loaded.session, "", loaded.context
            else:
                session, lease_id, context = spb.Session(), "", []
        except grpc.aio.AioRpcError as exc:
            raise rpc_failure(
                exc, what="response" if continuity.from_response_id else "session"
            ) from None
        composed = compose(request, list(context), list(session.instructions), continuity.stateless)
        return OpenTurn(self, tenant_id, session.id, lease_id, composed, response_id)

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
    ) -> None:
        self.runner = runner
        self.tenant_id = tenant_id
        self.session_id = session_id
        # Without a lease the call records nothing (store: false).
        self.lease_id = lease_id
        self.composed = composed
        # The surface's id for this response, when the surface chooses it (Responses).
        self.response_id = response_id
        self.committed: spb.Turn | None = None
        self.completed = False
        # The call's events folded as they pass: what is recorded, and a whole answer's body.
        self.accumulator = StreamAccumulator()
        self._released = not lease_id

    async def events(self, *, restartable: bool = False) -> AsyncIterator[gen.GenerationEvent]:
        """The call's canonical events; the turn is recorded just before `finished`.

        `restartable`: the caller passes nothing on before the end (a whole answer), so a
        provider replica lost midway is replaced by a fresh call (see `_generate`)."""
        started_at = time.monotonic()
        generated = self._generate(restartable)
        try:
            async for event in generated:
                if self.response_id and event.HasField("started"):
                    event.started.id = self.response_id
                accumulator = self.accumulator
                accumulator.feed(event)
                if event.HasField("finished"):
                    if self.lease_id:
                        failure = await self._commit(accumulator, started_at)
                        if failure is not None:
                            yield self._failed(failure)
                            return
                    self.completed = True
                yield event
                if event.HasField("failure"):
                    return
        except grpc.aio.AioRpcError as exc:
            yield self._failed(rpc_failure(exc, what="providers").failure)
        finally:
            await generated.aclose()
            await self.release()

    async def _generate(self, restartable: bool) -> AsyncGenerator[gen.GenerationEvent, None]:
        """The providers' events. Until the first event, the channel itself retries a call
        whose replica is lost (rhone/runtime/channels.py); after it, only a restartable call
        starts over, from an empty fold, on another replica."""
        restarts = 0
        while True:
            call = self.runner.providers.Generate(
                self.composed.request, timeout=deadlines.remaining()
            )
            try:
                async for event in call:
                    yield event
                return
            except grpc.aio.AioRpcError as exc:
                lost = exc.code() == grpc.StatusCode.UNAVAILABLE and not self.completed
                if not (restartable and lost and restarts < _MAX_RESTARTS):
                    raise
                restarts += 1
                log.warning("providers replica lost mid-answer; starting over (%d)", restarts)
                self.accumulator = StreamAccumulator()
            finally:
                call.cancel()

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
        try:
            committed = await self.runner.sessions.CommitTurn(
                spb.CommitTurnRequest(
                    tenant_id=self.tenant_id,
                    session_id=self.session_id,
                    lease_id=self.lease_id,
                    turn=turn,
                    instructions=composed.instructions or [],
                    set_instructions=composed.instructions is not None,
                )
            )
        except grpc.aio.AioRpcError as exc:
            return rpc_failure(exc, what="session").failure
        self.committed = committed.turn
        self._released = True
        return None

    async def release(self) -> None:
        """Gives the lease back without recording anything (idempotent; survives cancel)."""
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
