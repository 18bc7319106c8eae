"""A session's context by id: `GET /v1/sessions/{id}/context` shows exactly what the next call
would send after the session's context policy (optionally `?model=` for a call on another
model, `?strategy=` and `?max_input_tokens=` to try a policy); `POST /v1/sessions/{id}:compact`
summarises the older turns now, as a snapshot turn (body: optional `model`). The translator
does both, with the machinery a call uses (docs/long-sessions.md)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from rhone.context_policy import parse_policy
from rhone.errors import Code, RhoneError
from rhone.jsonutil import refuse_unknown
from rhone.rpc_errors import ERROR_DETAIL_KEY
from rhone.v1 import translator_pb2 as tpb
from services.facade.routes.sessions import _body, _json, _run
from services.facade.state import FacadeState
from services.facade.turn_view import message_view, turn_view

router = APIRouter()
T = TypeVar("T")

# A compaction asks a model for a summary: as long as a call may take.
COMPACT_TIMEOUT_S = 600
CONTEXT_TIMEOUT_S = 30


@router.get("/v1/sessions/{session_id}/context")
async def get_context(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        query = request.query_params
        policy: dict[str, Any] = {}
        if "strategy" in query:
            policy["strategy"] = query["strategy"]
        if "max_input_tokens" in query:
            raw = query["max_input_tokens"]
            if not raw.isdigit():
                raise RhoneError.invalid(
                    "'max_input_tokens' must be a positive integer.", param="max_input_tokens"
                )
            policy["max_input_tokens"] = int(raw)
        given = parse_policy(policy, "context") if policy else None
        seen = await _translated(
            state.translator.GetSessionContext(
                tpb.SessionContextRequest(
                    tenant_id=tenant,
                    session_id=session_id,
                    model=query.get("model", ""),
                    context_policy_json=given.to_json() if given else "",
                ),
                timeout=CONTEXT_TIMEOUT_S,
            )
        )
        return _json(context_json(session_id, seen))

    return await _run(request, act)


@router.post("/v1/sessions/{session_id}:compact")
async def compact(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        body = await _body(state, request)
        refuse_unknown(body, ("model",))
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise RhoneError.invalid("'model' must be a string.", param="model")
        done = await _translated(
            state.translator.CompactSession(
                tpb.SessionContextRequest(
                    tenant_id=tenant, session_id=session_id, model=model or ""
                ),
                timeout=COMPACT_TIMEOUT_S,
            )
        )
        turn = turn_view(done.turn) if done.HasField("turn") else None
        return Response(
            orjson.dumps(
                {
                    "object": "session.compaction",
                    "session_id": session_id,
                    "compacted": turn is not None,
                    "version": done.version,
                    "turn": turn,
                }
            ),
            status_code=200,
            media_type="application/json",
        )

    return await _run(request, act)


async def _translated(call: Awaitable[T]) -> T:
    """The translator's answer; its UNAVAILABLE (a provider down while compacting, say) keeps
    the translator's own message instead of the sessions API's generic one."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        # Only an answer of the translator's own (it names it in the trailing metadata), not
        # a transport failure, whose details are internal.
        own = any(key == ERROR_DETAIL_KEY for key, _ in exc.trailing_metadata() or ())
        if exc.code() == grpc.StatusCode.UNAVAILABLE and own and exc.details():
            raise RhoneError.of(Code.ERROR_CODE_UNAVAILABLE, exc.details() or "") from None
        raise


def context_json(session_id: str, seen: tpb.SessionContext) -> dict[str, Any]:
    return {
        "object": "session.context",
        "session_id": session_id,
        "model": seen.model,
        "strategy": seen.strategy,
        "action": seen.action,
        "context_window": seen.context_window or None,
        "input_budget": seen.input_budget or None,
        "estimated_input_tokens": seen.estimated_input_tokens,
        "dropped_messages": seen.dropped_messages,
        "messages": [message_view(m) for m in seen.messages],
    }
