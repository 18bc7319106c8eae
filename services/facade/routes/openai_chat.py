"""OpenAI surface routes: POST /v1/chat/completions, GET /v1/models."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from rhone.dialects.openai_chat import DIALECT
from rhone.errors import RhoneError
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import translator_pb2 as tpb
from services.facade.relay import error_response
from services.facade.state import FacadeState

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state: FacadeState = request.app.state.rhone
    try:
        tenant = await state.auth.tenant_of(request)
        body = await state.relay.read_body(request)
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    return await state.relay.call(
        dialect=DIALECT,
        surface=tpb.SURFACE_OPENAI_CHAT,
        method="create",
        tenant_id=tenant,
        body=body,
    )


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    state: FacadeState = request.app.state.rhone
    try:
        await state.auth.tenant_of(request)
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    listed = await state.translator.ListModels(ppb.ListModelsRequest(), timeout=10)
    data = [
        {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
        for m in listed.models
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")
