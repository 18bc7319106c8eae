"""WebSocket routes: the native rhone.ws.v1 protocol on /v1/ws, and OpenAI's Responses
WebSocket mode on /v1/responses. Authentication happens at the upgrade; a failure there is a
plain HTTP error (never an accepted socket that closes)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, WebSocket
from starlette.responses import Response

from rhone.dialects.openai_chat import DIALECT
from rhone.errors import RhoneError
from services.facade.auth import api_key_of
from services.facade.routes.common import state_of
from services.facade.ws import frames
from services.facade.ws.responses_socket import ResponsesSocket
from services.facade.ws.rhone_socket import RhoneSocket

router = APIRouter()


def _offered(websocket: WebSocket) -> list[str]:
    header = websocket.headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


async def _deny(websocket: WebSocket, exc: RhoneError) -> None:
    status, body = DIALECT.encode_error(exc.failure)
    response = Response(orjson.dumps(body), status_code=status, media_type="application/json")
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # a server without the denial-response extension
        await websocket.close(frames.CLOSE_POLICY)


async def _tenant(websocket: WebSocket) -> str:
    """The upgrade's key: Authorization, ?key=, or a `rhone.key.<key>` subprotocol. A replica
    that drains takes no new socket."""
    state = state_of(websocket)
    state.admission.check_open()
    key = api_key_of(websocket)
    for offered in _offered(websocket):
        if offered.startswith(frames.KEY_SUBPROTOCOL_PREFIX):
            key = offered.removeprefix(frames.KEY_SUBPROTOCOL_PREFIX)
            break
    principal = await state.auth.principal_of_key(key)
    # The socket's calls are admitted against this key's limits (SocketBase.principal).
    websocket.state.principal = principal
    return principal.tenant_id


@router.websocket("/v1/ws")
async def rhone_ws(websocket: WebSocket) -> None:
    if frames.SUBPROTOCOL not in _offered(websocket):
        await _deny(
            websocket,
            RhoneError.invalid(f"Offer the '{frames.SUBPROTOCOL}' subprotocol to use /v1/ws."),
        )
        return
    try:
        tenant = await _tenant(websocket)
    except RhoneError as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept(subprotocol=frames.SUBPROTOCOL)
    state = state_of(websocket)
    await RhoneSocket(websocket, state, tenant, state.ws_limits).serve()


@router.websocket("/v1/responses")
async def responses_ws(websocket: WebSocket) -> None:
    try:
        tenant = await _tenant(websocket)
    except RhoneError as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept()
    state = state_of(websocket)
    await ResponsesSocket(websocket, state, tenant, state.ws_limits).serve()
