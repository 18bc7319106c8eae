"""Runs over HTTP (docs/rhone-ws-v1.md, "Runs"): `GET /v1/runs/{id}` (status, steps, pending
tool calls) and `GET /v1/runs/{id}/events?after=N`, the run's events as SSE from a sequence
number (or the `Last-Event-ID` an EventSource sends when it reconnects), until its last one.
So a browser resumes a run after a reload. Errors in OpenAI's shape, as the sessions API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from rhone.dialects.openai_chat import DIALECT
from rhone.errors import Code, RhoneError, make_failure
from rhone.ids import check_path_id
from services.facade.relay import error_response
from services.facade.runs.engine import RunEngine, RunError, run_json
from services.facade.state import FacadeState

router = APIRouter()

_CODES = {404: Code.ERROR_CODE_NOT_FOUND, 400: Code.ERROR_CODE_INVALID_REQUEST}


@router.get("/v1/runs/{run_id}")
async def get_run(request: Request, run_id: str) -> Response:
    state: FacadeState = request.app.state.rhone
    try:
        tenant = await state.auth.tenant_of(request)
        check_path_id(run_id, "run", "run_not_found")
        run = await state.runs.get(tenant, run_id)
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    except RunError as exc:
        return _run_error(exc)
    return Response(orjson.dumps(run_json(run)), media_type="application/json")


@router.get("/v1/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> Response:
    state: FacadeState = request.app.state.rhone
    try:
        tenant = await state.auth.tenant_of(request)
        check_path_id(run_id, "run", "run_not_found")
        after = _after(request)
        await state.runs.get(tenant, run_id)  # an unknown run is a 404, not an empty stream
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    except RunError as exc:
        return _run_error(exc)
    return StreamingResponse(
        _sse(state.runs, tenant, run_id, after),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


async def _sse(engine: RunEngine, tenant: str, run_id: str, after: int) -> AsyncIterator[bytes]:
    try:
        async for event in engine.follow(tenant, run_id, after):
            yield b"id: " + str(event.seq).encode() + b"\ndata: " + event.event + b"\n\n"
    except RunError as exc:
        error = {"type": "error", "code": exc.code, "message": exc.message, "run_id": run_id}
        yield b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"


def _after(request: Request) -> int:
    """`after`, else the EventSource's Last-Event-ID, else 0."""
    value = request.query_params.get("after") or request.headers.get("last-event-id") or "0"
    if not value.isdigit() or len(value) > 18:
        raise RhoneError.invalid("after must be an event sequence number >= 0.", param="after")
    return int(value)


def _run_error(exc: RunError) -> Response:
    code = _CODES.get(exc.status, Code.ERROR_CODE_UNAVAILABLE)
    return error_response(DIALECT, make_failure(code, exc.message, detail=exc.code))
