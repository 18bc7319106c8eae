"""Liveness and readiness. /healthz: this process answers. /readyz: its peers answer too."""

from __future__ import annotations

import asyncio

import grpc
import orjson
from fastapi import APIRouter, Request
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.responses import Response

from services.facade.state import FacadeState

router = APIRouter()


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _serving(channel: grpc.aio.Channel) -> bool:
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    state: FacadeState = request.app.state.rhone
    translator, sessions = await asyncio.gather(
        _serving(state.translator_channel), _serving(state.sessions_channel)
    )
    ready = translator and sessions
    body = {
        "status": "ok" if ready else "unavailable",
        "translator": translator,
        "sessions": sessions,
    }
    return Response(
        orjson.dumps(body), status_code=200 if ready else 503, media_type="application/json"
    )
