"""Liveness and readiness, of this process alone.

/healthz: the process answers. /readyz: it takes calls, which it does until it drains
(SIGTERM). Neither asks the peers: a sessions blip must not take every facade out of its
Service at once, and a call that needs a peer that is down gets its own 503."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from services.facade.state import FacadeState

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    state: FacadeState = request.app.state.rhone
    draining = state.admission.draining
    body = {
        "status": "draining" if draining else "ok",
        "calls_in_flight": state.admission.in_flight,
    }
    return Response(
        orjson.dumps(body), status_code=503 if draining else 200, media_type="application/json"
    )
