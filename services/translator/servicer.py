"""The TranslatorService over gRPC: Call for public surfaces, Generate for internal teams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from rhone import canonical as ev
from rhone.errors import RhoneError
from rhone.runtime import deadlines
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc as tpb_grpc
from services.translator.calls import CallHandler
from services.translator.continuity import Continuity
from services.translator.turns import TurnRunner


class TranslatorServicer(tpb_grpc.TranslatorServiceServicer):
    def __init__(self, runner: TurnRunner) -> None:
        self.runner = runner
        self.calls = CallHandler(runner)

    async def Call(
        self, request: tpb.CallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tpb.CallFrame]:
        if not request.tenant_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tenant_id is required")
        deadlines.hold(context)
        async for frame in self.calls.call(request):
            yield frame

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
            turn = await self.runner.open(request.tenant_id, request.request, continuity)
        except RhoneError as exc:
            yield tpb.TranslatorGenerateEvent(generation=ev.failed(exc.failure))
            return
        try:
            yield tpb.TranslatorGenerateEvent(session_id=turn.session_id)
            async for event in turn.events():
                yield tpb.TranslatorGenerateEvent(generation=event)
        finally:
            await turn.release()

    async def ListModels(
        self, request: ppb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> ppb.ListModelsResponse:
        return await self.runner.providers.ListModels(request)
