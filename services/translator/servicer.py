"""The TranslatorService over gRPC: Call for public surfaces, Generate for internal teams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from rhone import canonical as ev
from rhone.errors import RhoneError
from rhone.ids import check_body_id
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc as tpb_grpc
from services.translator.calls import CallHandler
from services.translator.compaction.compactor import Compactor
from services.translator.continuity import Continuity
from services.translator.turns import TurnRunner


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
        async for frame in self.calls.call(request):
            yield frame

    async def Generate(
        self, request: tpb.TranslatorGenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tpb.TranslatorGenerateEvent]:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
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

    async def ListModels(
        self, request: ppb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> ppb.ListModelsResponse:
        return await self.runner.providers.ListModels(request)

    async def CountTokens(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> ppb.CountTokensResponse:
        """The providers service's count; its refusals pass on with their status, and
        `rhone-error-detail` says an unknown model is `model_not_found`."""
        try:
            return await self.runner.providers.CountTokens(request)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code not in PASSED_ON:
                code = grpc.StatusCode.UNAVAILABLE
            detail = "model_not_found" if code == grpc.StatusCode.NOT_FOUND else ""
            message = exc.details() if code in PASSED_ON else "The providers service failed."
            await context.abort(
                code, message or "", trailing_metadata=(("rhone-error-detail", detail),)
            )
            raise


# A providers service refusal the caller is told as it is; anything else is the fleet's trouble.
PASSED_ON = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


def check_generate_request(request: tpb.TranslatorGenerateRequest) -> None:
    """What the surfaces' dialects check for their own calls: a call says something (no
    messages would generate an answer to nothing), and names a session by a valid id."""
    if not request.request.messages:
        raise RhoneError.invalid(
            "'request.messages' must hold at least one message.", param="request.messages"
        )
    check_body_id(request.continuity.session_id, "continuity.session_id", "session id")
