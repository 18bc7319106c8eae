"""The TranslatorService over gRPC: Call for the public surfaces, Generate for canonical requests
(the facade's gRPC Gateway and rhone.canonical sockets), the sessions API's context and
compaction, token counts and model listings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from rhone import canonical as ev
from rhone.coalesce import coalesced
from rhone.errors import Code, RhoneError
from rhone.ids import check_body_id
from rhone.observability import scope
from rhone.rpc_errors import abort, answering
from rhone.runtime import deadlines
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc as tpb_grpc
from services.translator.calls import CallHandler, count_refusal
from services.translator.compaction.compactor import Compactor
from services.translator.continuity import Continuity
from services.translator.session_context import compact_session, session_context
from services.translator.turns import TurnRunner

_STATUS_OF_CODE = {
    Code.ERROR_CODE_INVALID_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    Code.ERROR_CODE_NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Code.ERROR_CODE_CONFLICT: grpc.StatusCode.ABORTED,
}


def _status_of(exc: Exception) -> tuple[grpc.StatusCode, str, str]:
    """A failure of a by-id session RPC as the gRPC status the facade maps back (the trailing
    `rhone-error-detail` names it, as the sessions service's errors do)."""
    assert isinstance(exc, RhoneError)
    failure = exc.failure
    status = _STATUS_OF_CODE.get(failure.code, grpc.StatusCode.UNAVAILABLE)
    return status, failure.message, failure.detail


_answers_session_rpc = answering((RhoneError,), _status_of)


class TranslatorServicer(tpb_grpc.TranslatorServiceServicer):
    def __init__(self, runner: TurnRunner, compactor: Compactor) -> None:
        self.runner = runner
        self.compactor = compactor
        self.calls = CallHandler(runner, compactor)

    async def Call(
        self, request: tpb.CallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tpb.CallFrame]:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        deadlines.hold(context)
        heading = True
        if request.batches:
            # A frame can hold a whole batch of events: a few frames are lead enough.
            batches = coalesced(self.calls.call(request), max_batch=8)
            try:
                async for batch in batches:
                    if heading:  # a stream's model and provider, with its head
                        heading = False
                        await context.send_initial_metadata(scope.current().started())
                    yield batch[0] if len(batch) == 1 else _batch(batch)
            finally:
                await batches.aclose()
        else:
            async for frame in self.calls.call(request):
                if heading:  # a stream's model and provider, with its head (observability)
                    heading = False
                    await context.send_initial_metadata(scope.current().started())
                yield frame
        context.set_trailing_metadata(scope.current().trailer())

    async def CallWhole(
        self, request: tpb.CallRequest, context: grpc.aio.ServicerContext
    ) -> tpb.CallFrames:
        """Call, for an answer the facade writes whole: its frames in one message, and what
        a stream's initial metadata would say in the trailing one."""
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        deadlines.hold(context)
        frames = [frame async for frame in self.calls.call(request)]
        context.set_trailing_metadata(scope.current().trailer())
        return tpb.CallFrames(frames=frames)

    async def Generate(
        self, request: tpb.TranslatorGenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tpb.TranslatorGenerateEvent]:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        deadlines.hold(context)
        continuity = Continuity(
            session_id=request.continuity.session_id, stateless=request.continuity.stateless
        )
        try:
            check_generate_request(request)
            self.compactor.open(request.tenant_id, request.request)
            turn = await self.runner.open(request.tenant_id, request.request, continuity)
        except RhoneError as exc:
            yield tpb.TranslatorGenerateEvent(generation=ev.failed(exc.failure))
            return
        try:
            yield tpb.TranslatorGenerateEvent(session_id=turn.session_id)
            async for event in turn.events():
                yield tpb.TranslatorGenerateEvent(generation=event)
            if turn.committed is not None:
                yield tpb.TranslatorGenerateEvent(turn_id=turn.committed.id)
        finally:
            await turn.release()

    @_answers_session_rpc
    async def GetSessionContext(
        self, request: tpb.SessionContextRequest, context: grpc.aio.ServicerContext
    ) -> tpb.SessionContext:
        assert self.runner.fitter is not None
        return await session_context(self.runner, self.runner.fitter, request)

    @_answers_session_rpc
    async def CompactSession(
        self, request: tpb.SessionContextRequest, context: grpc.aio.ServicerContext
    ) -> tpb.CompactSessionResponse:
        assert self.runner.fitter is not None
        return await compact_session(self.runner, self.runner.fitter, request)

    async def ListModels(
        self, request: ppb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> ppb.ListModelsResponse:
        return await self.runner.providers.ListModels(request)

    async def CountTokens(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> ppb.CountTokensResponse:
        """The providers service's count; a refusal passes on as a call's count refusal does
        (count_refusal), with its status and `rhone-error-detail` (`model_not_found`)."""
        try:
            return await self.runner.providers.CountTokens(request)
        except grpc.aio.AioRpcError as exc:
            await abort(context, *_status_of(RhoneError(count_refusal(exc))))


def _batch(frames: list[tpb.CallFrame]) -> tpb.CallFrame:
    return tpb.CallFrame(batch=tpb.CallFrames(frames=frames))


def check_generate_request(request: tpb.TranslatorGenerateRequest) -> None:
    """What the surfaces' dialects check for their own calls: a call says something (no
    messages would generate an answer to nothing), and names a session by a valid id."""
    if not request.request.messages:
        raise RhoneError.invalid(
            "'request.messages' must hold at least one message.", param="request.messages"
        )
    check_body_id(request.continuity.session_id, "continuity.session_id", "session id")
