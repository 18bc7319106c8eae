"""Anthropic Messages routes: POST /v1/messages and /v1/messages/count_tokens.

The `anthropic-version` header is required, as on api.anthropic.com (the SDK always sends
it); keys come as `x-api-key` or `Authorization: Bearer`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from rhone.dialects.anthropic_messages import DIALECT
from rhone.errors import RhoneError
from rhone.v1 import translator_pb2 as tpb
from services.facade.relay import error_response
from services.facade.routes.common import relay_surface_call
from services.facade.routes.plain_routes import PlainRouter

router = PlainRouter()


async def _messages_call(request: Request, method: str) -> Response:
    if not request.headers.get("anthropic-version"):
        failure = RhoneError.invalid(
            "anthropic-version: header is required (e.g. 'anthropic-version: 2023-06-01').",
            param="anthropic-version",
        ).failure
        return error_response(DIALECT, failure)
    response = await relay_surface_call(
        request, dialect=DIALECT, surface=tpb.SURFACE_ANTHROPIC_MESSAGES, method=method
    )
    return response


@router.post("/v1/messages")
async def create_message(request: Request) -> Response:
    return await _messages_call(request, "create")


@router.post("/v1/messages/count_tokens")
async def count_tokens(request: Request) -> Response:
    return await _messages_call(request, "count_tokens")
