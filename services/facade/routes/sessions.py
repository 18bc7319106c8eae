"""The native sessions API: /v1/sessions (create, list, get, update, delete), a session's turns,
and `POST /v1/sessions/{id}:branch` (AIP-136 custom method syntax).

JSON in and out, authenticated like every route; errors in OpenAI's shape, which every SDK
reads. Another tenant's session is a 404, exactly like an unknown one, never a 403. Bodies are
parsed and checked here, so that a 400 names the field; the sessions service does the rest."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from rhone import rpc_errors
from rhone.context_policy import parse_policy, stored_policy
from rhone.dialects.openai_chat import DIALECT
from rhone.errors import RhoneError
from rhone.ids import check_body_id, check_cursor, check_name, check_path_id
from rhone.jsonutil import dict_from_struct, loads_object, refuse_unknown, struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from services.facade.relay import error_response
from services.facade.state import FacadeState
from services.facade.turn_view import turn_view

router = APIRouter()
log = logging.getLogger("rhone.facade.sessions")

RPC_TIMEOUT_S = 10
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# The request field each error the sessions service names is about.
_PARAM_OF_DETAIL = {"turn_not_found": "at_turn", "invalid_cursor": "after"}
_SETTINGS = ("metadata", "instructions", "default_model", "context")

Action = Callable[[FacadeState, str], Awaitable[Response]]


# routes


@router.post("/v1/sessions")
async def create_session(request: Request) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        fields = parse_settings(await _body(state, request))
        session = await state.sessions.CreateSession(
            spb.CreateSessionRequest(
                tenant_id=tenant,
                metadata=struct_from_dict(fields.get("metadata") or {}, param="metadata"),
                instructions=instruction_messages(fields.get("instructions")),
                default_model=fields.get("default_model") or "",
            ),
            timeout=RPC_TIMEOUT_S,
        )
        if fields.get("context") is not None:
            session = await state.sessions.UpdateSession(
                update_request(tenant, session.id, {"context": fields["context"]}),
                timeout=RPC_TIMEOUT_S,
            )
        return _json(session_json(session), status=201)

    return await _run(request, act)


@router.get("/v1/sessions")
async def list_sessions(request: Request) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        limit = parse_limit(request.query_params.get("limit"))
        page = await state.sessions.ListSessions(
            spb.ListSessionsRequest(
                tenant_id=tenant,
                page_size=limit,
                cursor=check_cursor(request.query_params.get("after", "")),
            ),
            timeout=RPC_TIMEOUT_S,
        )
        return _json(
            {
                "object": "list",
                "data": [session_json(s) for s in page.sessions],
                "has_more": bool(page.next_cursor),
                "next_cursor": page.next_cursor or None,
            }
        )

    return await _run(request, act)


@router.get("/v1/sessions/{session_id}")
async def get_session(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        session = await state.sessions.GetSession(
            spb.GetSessionRequest(tenant_id=tenant, session_id=session_id),
            timeout=RPC_TIMEOUT_S,
        )
        return _json(session_json(session))

    return await _run(request, act)


@router.patch("/v1/sessions/{session_id}")
async def update_session(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        fields = parse_settings(await _body(state, request))
        session = await state.sessions.UpdateSession(
            update_request(tenant, session_id, fields), timeout=RPC_TIMEOUT_S
        )
        return _json(session_json(session))

    return await _run(request, act)


@router.delete("/v1/sessions/{session_id}")
async def delete_session(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        await state.sessions.DeleteSession(
            spb.DeleteSessionRequest(tenant_id=tenant, session_id=session_id),
            timeout=RPC_TIMEOUT_S,
        )
        return _json({"id": session_id, "object": "session.deleted", "deleted": True})

    return await _run(request, act)


@router.get("/v1/sessions/{session_id}/turns")
async def list_turns(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        listed = await state.sessions.ListTurns(
            spb.ListTurnsRequest(tenant_id=tenant, session_id=session_id),
            timeout=RPC_TIMEOUT_S,
        )
        data = [turn_view(turn) for turn in listed.turns]
        return _json({"object": "list", "data": data})

    return await _run(request, act)


@router.post("/v1/sessions/{session_id}:branch")
async def branch_session(request: Request, session_id: str) -> Response:
    async def act(state: FacadeState, tenant: str) -> Response:
        at_turn = parse_branch(await _body(state, request))
        session = await state.sessions.BranchSession(
            spb.BranchSessionRequest(tenant_id=tenant, session_id=session_id, at_turn_id=at_turn),
            timeout=RPC_TIMEOUT_S,
        )
        return _json(session_json(session), status=201)

    return await _run(request, act)


# plumbing


async def _run(request: Request, act: Action) -> Response:
    """Authenticates, checks the path's session id, then acts; every failure is answered in
    OpenAI's error shape."""
    state: FacadeState = request.app.state.rhone
    try:
        tenant = await state.auth.tenant_of(request)
        if (session_id := request.path_params.get("session_id")) is not None:
            check_path_id(session_id, "session", "session_not_found")
        return await act(state, tenant)
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    except grpc.aio.AioRpcError as exc:
        return error_response(DIALECT, failure_of_rpc(exc))


async def _body(state: FacadeState, request: Request) -> dict[str, Any]:
    """The JSON object sent, or {} when the body is empty (every body here is optional)."""
    raw = await state.relay.read_body(request)
    return loads_object(raw) if raw.strip() else {}


def _json(value: Any, *, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json")


def failure_of_rpc(exc: grpc.aio.AioRpcError) -> gen.Failure:
    """The sessions service's error as the failure this API renders; its trailing metadata
    says which id was not found, and that decides the `code` and `param` a client sees."""
    return rpc_errors.failure_of_rpc(
        exc,
        service="sessions",
        details={grpc.StatusCode.NOT_FOUND: "session_not_found"},
        params=_PARAM_OF_DETAIL,
    )


# bodies and views (pure)


def parse_settings(body: dict[str, Any]) -> dict[str, Any]:
    """A create or update body: the settings it names, checked. A key sent as null clears
    that setting; a key left out leaves it alone (what PATCH needs)."""
    refuse_unknown(body, _SETTINGS)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RhoneError.invalid("'metadata' must be an object.", param="metadata")
    for name in ("instructions", "default_model"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise RhoneError.invalid(f"'{name}' must be a string or null.", param=name)
    if body.get("default_model"):
        check_name(body["default_model"], "default_model")
    parse_policy(body.get("context"), "context")
    return body


def parse_branch(body: dict[str, Any]) -> str:
    refuse_unknown(body, ("at_turn",))
    at_turn = body.get("at_turn")
    if at_turn is not None and not isinstance(at_turn, str):
        raise RhoneError.invalid("'at_turn' must be a turn id (a string).", param="at_turn")
    return check_body_id(at_turn or "", "at_turn", "turn id")


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise RhoneError.invalid(
            f"'limit' must be an integer from 1 to {MAX_LIMIT}.", param="limit"
        )
    return int(value)


def instruction_messages(text: str | None) -> list[content.Message]:
    """An instructions string as the one system message a session keeps; empty: none."""
    if not text:
        return []
    return [
        content.Message(
            role=content.ROLE_SYSTEM, parts=[content.Part(text=content.TextPart(text=text))]
        )
    ]


def update_request(
    tenant: str, session_id: str, fields: dict[str, Any]
) -> spb.UpdateSessionRequest:
    """Only the fields the body names are set in the request, so the others are kept."""
    request = spb.UpdateSessionRequest(tenant_id=tenant, session_id=session_id)
    if "metadata" in fields:
        request.metadata.CopyFrom(struct_from_dict(fields["metadata"] or {}, param="metadata"))
    if "instructions" in fields:
        request.instructions.SetInParent()
        request.instructions.messages.extend(instruction_messages(fields["instructions"]))
    if "default_model" in fields:
        request.default_model = fields["default_model"] or ""
    if "context" in fields:
        request.context_policy_json = parse_policy(fields["context"], "context").to_json()
    return request


def instructions_text(messages: Any) -> str | None:
    texts = [part.text.text for m in messages for part in m.parts if part.HasField("text")]
    return "\n".join(texts) if texts else None


def session_json(session: spb.Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "object": "session",
        "created_at": session.created_at_ms // 1000,
        "updated_at": session.updated_at_ms // 1000,
        "version": session.version,
        "metadata": dict_from_struct(session.metadata),
        "instructions": instructions_text(session.instructions),
        "default_model": session.default_model or None,
        "parent_id": session.parent_id or None,
        "parent_turn_id": session.parent_turn_id or None,
        "context": stored_policy(session.context_policy_json).to_dict(),
    }
