"""rhone.api.v1.Gateway: Generate, CountTokens and ListModels for the caller's tenant, over the
translator's internal Generate, CountTokens and ListModels (the same engine, leases and
sessions as the HTTP surfaces, so a session continues across the two).

Generate is metered like a `rhone.canonical` socket call (services/facade/metering.py): the
key's allowed models, limits and budgets admit it, and it leaves a usage record (surface
`rhone.grpc`) however it ends. CountTokens is not metered, as token counting is not on HTTP.
ListModels lists only the models the key may call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import grpc
from google.protobuf import timestamp_pb2

from rhone.api.v1 import gateway_pb2 as api
from rhone.api.v1 import gateway_pb2_grpc as api_grpc
from rhone.dialects import anthropic_messages, gemini, openai_chat, openai_responses
from rhone.errors import Code, RhoneError, make_failure
from rhone.ids import check_body_id
from rhone.rpc_errors import failure_of_rpc
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc as tpb_grpc
from services.facade.grpc_api.auth import current_principal, current_tenant
from services.facade.grpc_api.errors import abort_with
from services.facade.metering import GRPC_SURFACE, CallMeter, EventTally, LimitExceeded, Metering

log = logging.getLogger("rhone.facade.grpc_api")

RPC_TIMEOUT_S = 30
# The dialects `extras` may be written in: every one an upstream speaks.
_DIALECTS = tuple(
    dialect.name
    for dialect in (
        openai_chat.DIALECT,
        openai_responses.DIALECT,
        anthropic_messages.DIALECT,
        gemini.DIALECT,
        gemini.VERTEX_DIALECT,
    )
)


class GatewayServicer(api_grpc.GatewayServicer):
    def __init__(self, translator: tpb_grpc.TranslatorServiceStub, metering: Metering) -> None:
        self.translator = translator
        self.metering = metering

    async def Generate(
        self, request: api.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.GenerateResponse]:
        meter = await self._admit(request, context)
        tally = EventTally(first_call=not request.session_id)
        try:
            internal = generate_request(current_tenant(), request)
        except RhoneError as exc:
            tally.settle(meter, "", ended=True, failure=exc.failure)
            await abort_with(context, exc.failure)
        call = self.translator.Generate(internal)
        session_id = ""
        ended = False
        failure: gen.Failure | None = None
        try:
            async for item in call:
                kind = item.WhichOneof("event")
                if kind == "session_id":
                    session_id = item.session_id
                    yield api.GenerateResponse(session=api.GenerateSession(session_id=session_id))
                elif kind == "generation":
                    tally.feed(item.generation)
                    if item.generation.HasField("failure"):
                        ended = True
                        # Once the stream has begun, the failure is an event too, so that a
                        # client reading events sees where the answer stopped.
                        public_params(item.generation.failure)
                        if session_id:
                            yield api.GenerateResponse(event=item.generation)
                        await abort_with(context, item.generation.failure)
                    yield api.GenerateResponse(event=item.generation)
                elif kind == "turn_id":
                    yield api.GenerateResponse(
                        turn=api.GenerateTurn(turn_id=item.turn_id, session_id=session_id)
                    )
            ended = True
        except grpc.aio.AioRpcError as exc:
            log.warning("translator Generate failed: %s %s", exc.code(), exc.details())
            ended = True
            failure = make_failure(
                Code.ERROR_CODE_UNAVAILABLE, "The translator service is unavailable."
            )
            if session_id:
                yield api.GenerateResponse(event=gen.GenerationEvent(failure=failure))
            await abort_with(context, failure)
        finally:
            call.cancel()
            # Not ended: the client cancelled (or went away) mid-stream.
            tally.settle(meter, session_id, ended=ended, failure=failure)

    async def _admit(
        self, request: api.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> CallMeter | None:
        """Admits the call against the key's allowed models, limits and budgets, or aborts
        with the refusal (its rate-limit state and retry delay in the trailing metadata); an
        admitted call sends that state as initial metadata."""
        try:
            meter = await self.metering.begin(
                current_principal(),
                surface=GRPC_SURFACE,
                method="generate",
                size=request.ByteSize(),
                model=request.model,
            )
        except LimitExceeded as exc:
            await abort_with(context, exc.failure, exc.headers)
        if meter is not None and (headers := meter.limit_headers()):
            await context.send_initial_metadata(tuple(headers.items()))
        return meter

    async def CountTokens(
        self, request: api.CountTokensRequest, context: grpc.aio.ServicerContext
    ) -> api.CountTokensResponse:
        if not request.messages:
            await abort_with(
                context,
                RhoneError.invalid(
                    "'messages' must hold at least one message.", param="messages"
                ).failure,
            )
        internal = gen.GenerateRequest(
            model=request.model,
            messages=request.messages,
            tools=request.tools,
            config=request.config,
        )
        try:
            counted = await self.translator.CountTokens(internal, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            await abort_with(context, count_failure(exc))
        return api.CountTokensResponse(
            input_tokens=counted.input_tokens, estimated=counted.estimated
        )

    async def ListModels(
        self, request: api.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListModelsResponse:
        try:
            listed = await self.translator.ListModels(
                ppb.ListModelsRequest(), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError:
            await abort_with(
                context,
                make_failure(Code.ERROR_CODE_UNAVAILABLE, "The translator service is unavailable."),
            )
        # The models the key may call, as on HTTP (its and its tenant's `models`).
        principal = current_principal()
        allowed = [m for m in listed.models if principal.may_use(m.id)]
        return api.ListModelsResponse(
            models=[model_of(m) for m in sorted(allowed, key=lambda m: m.id)]
        )


def generate_request(tenant: str, request: api.GenerateRequest) -> tpb.TranslatorGenerateRequest:
    """The translator's request: the public fields, the tenant from the key, continuity."""
    if request.HasField("extras") and request.extras_dialect not in _DIALECTS:
        raise RhoneError.invalid(
            f"'extras_dialect' must be one of {', '.join(_DIALECTS)} when 'extras' is set.",
            param="extras_dialect",
        )
    check_body_id(request.session_id, "session_id", "session id")
    return tpb.TranslatorGenerateRequest(
        tenant_id=tenant,
        request=gen.GenerateRequest(
            model=request.model,
            messages=request.messages,
            tools=request.tools,
            tool_choice=request.tool_choice,
            config=request.config,
            metadata=request.metadata,
            extras=request.extras,
            extras_dialect=request.extras_dialect,
        ),
        continuity=tpb.Continuity(session_id=request.session_id, stateless=request.stateless),
    )


# The translator names continuity fields as the HTTP bodies spell them.
_PUBLIC_PARAM = {"rhone.session_id": "session_id", "rhone.context_mode": "stateless"}


def public_params(failure: gen.Failure) -> None:
    failure.param = _PUBLIC_PARAM.get(failure.param, failure.param)


def count_failure(exc: grpc.aio.AioRpcError) -> gen.Failure:
    """The translator's refusal of a count (a model nothing serves, a request the upstream
    refused) as the client's failure."""
    return failure_of_rpc(
        exc,
        service="translator",
        details={grpc.StatusCode.NOT_FOUND: "model_not_found"},
        params={"model_not_found": "model"},
    )


def model_of(model: ppb.ModelInfo) -> api.Model:
    result = api.Model(id=model.id, provider=model.provider, owned_by=model.owned_by)
    if model.created:
        result.create_time.CopyFrom(timestamp_pb2.Timestamp(seconds=model.created))
    return result
