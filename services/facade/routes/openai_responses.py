"""OpenAI Responses routes: POST /v1/responses, POST /v1/responses/compact, GET and DELETE
/v1/responses/{id}, GET /v1/responses/{id}/input_items."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from rhone.dialects.openai_responses import DIALECT
from rhone.errors import RhoneError
from rhone.ids import check_path_id
from rhone.v1 import translator_pb2 as tpb
from services.facade.relay import error_response
from services.facade.routes.common import relay_surface_call, state_of
from services.facade.routes.plain_routes import PlainRouter

router = PlainRouter()
SURFACE = tpb.SURFACE_OPENAI_RESPONSES


@router.post("/v1/responses")
async def create_response(request: Request) -> Response:
    return await relay_surface_call(request, dialect=DIALECT, surface=SURFACE, method="create")


@router.post("/v1/responses/compact")
async def compact_responses(request: Request) -> Response:
    return await relay_surface_call(request, dialect=DIALECT, surface=SURFACE, method="compact")


async def _stored(request: Request, method: str, response_id: str) -> Response:
    state = state_of(request)
    try:
        tenant = await state.auth.tenant_of(request)
        check_path_id(response_id, "response", "response_not_found")
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    params = {"response_id": response_id, "order": request.query_params.get("order", "desc")}
    return await state.relay.call(
        dialect=DIALECT, surface=SURFACE, method=method, tenant_id=tenant, body=b"", params=params
    )


@router.get("/v1/responses/{response_id}")
async def retrieve_response(request: Request, response_id: str) -> Response:
    return await _stored(request, "retrieve", response_id)


@router.delete("/v1/responses/{response_id}")
async def delete_response(request: Request, response_id: str) -> Response:
    return await _stored(request, "delete", response_id)


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(request: Request, response_id: str) -> Response:
    return await _stored(request, "input_items", response_id)
