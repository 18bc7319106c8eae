"""OpenAI Chat Completions route: POST /v1/chat/completions."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from rhone.dialects.openai_chat import DIALECT
from rhone.v1 import translator_pb2 as tpb
from services.facade.routes.common import relay_surface_call
from services.facade.routes.plain_routes import PlainRouter

router = PlainRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await relay_surface_call(
        request, dialect=DIALECT, surface=tpb.SURFACE_OPENAI_CHAT, method="create"
    )
