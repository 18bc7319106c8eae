"""OpenAI Responses' stored responses: GET /v1/responses/{id}, DELETE, and its input_items.

A response id names a turn of a session; the turn holds what the response needs (its output,
usage, model), so a stored response is re-encoded from the turn, never kept twice."""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from rhone.dialects import openai_responses
from rhone.dialects.base import DecodedCall
from rhone.dialects.openai_responses.item_ids import input_item_id
from rhone.errors import Code, RhoneError
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc
from rhone.v1 import translator_pb2 as tpb
from services.translator.surfaces import SurfaceSpec
from services.translator.turns import rpc_failure

STORED_RESPONSE_METHODS = frozenset({"retrieve", "delete", "input_items"})
JSON = "application/json"


def _frames(status: int, body: dict[str, Any]) -> list[tpb.CallFrame]:
    return [
        tpb.CallFrame(head=tpb.CallHead(status=status, content_type=JSON)),
        tpb.CallFrame(data=orjson.dumps(body)),
    ]


async def stored_response_call(
    sessions: sessions_pb2_grpc.SessionServiceStub, surface: SurfaceSpec, request: tpb.CallRequest
) -> list[tpb.CallFrame]:
    response_id = request.params.get("response_id", "")
    try:
        if request.method == "delete":
            await sessions.DeleteResponse(
                spb.DeleteResponseRequest(tenant_id=request.tenant_id, response_id=response_id)
            )
            return _frames(200, {"id": response_id, "object": "response", "deleted": True})
        found = await sessions.GetTurnByResponseId(
            spb.GetTurnByResponseIdRequest(tenant_id=request.tenant_id, response_id=response_id)
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            # The store unreachable: a 503 in the surface's shape, not a failed Call (a 500).
            status, body = surface.dialect.encode_error(rpc_failure(exc, what="session").failure)
            return _frames(status, body)
        failure = RhoneError.of(
            Code.ERROR_CODE_NOT_FOUND,
            f"No response found with id '{response_id}'.",
            detail="response_not_found",
        ).failure
        status, body = surface.dialect.encode_error(failure)
        return _frames(status, body)
    if request.method == "input_items":
        return _frames(200, input_items(found.turn, request.params.get("order", "desc")))
    return _frames(200, retrieved(surface, found.turn, found.session_id))


def retrieved(surface: SurfaceSpec, turn: spb.Turn, session_id: str) -> dict[str, Any]:
    response = gen.GenerateResponse(
        id=turn.response_id,
        model=turn.model,
        provider=turn.provider,
        message=turn.output,
        usage=turn.usage,
        finish_reason=turn.finish_reason,
    )
    options: dict[str, Any] = {
        "store": True,
        "created_at": turn.created_at_ms // 1000,
        "completed_at": (turn.created_at_ms + turn.duration_ms) // 1000,
    }
    if turn.response_settings_json:  # turns recorded before settings were kept have none
        options["echo"] = orjson.loads(turn.response_settings_json)
    decoded = DecodedCall(request=gen.GenerateRequest(model=turn.model), options=options)
    return surface.encode(response, decoded, {"session_id": session_id})


def input_items(turn: spb.Turn, order: str) -> dict[str, Any]:
    """The turn's input as Responses input items, each with an id as the API lists them."""
    encoded = openai_responses.encode_request(gen.GenerateRequest(messages=turn.input), False)
    raw = encoded.get("input", [])
    items = [
        {"id": input_item_id(_kind_of(item), turn.response_id, n), **item}
        for n, item in enumerate(raw if isinstance(raw, list) else [])
    ]
    for item in items:
        # Listed items are whole stored items: every one has a status (the SDK's item types
        # require it), and assistant text its annotations.
        item.setdefault("type", "message")
        item.setdefault("status", "completed")
        if item["type"] == "message":
            if isinstance(item.get("content"), str):
                kind = "input_text" if item.get("role") != "assistant" else "output_text"
                item["content"] = [{"type": kind, "text": item["content"]}]
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    part.setdefault("annotations", [])
    if order != "asc":
        items.reverse()
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": False,
    }


def _kind_of(item: dict[str, Any]) -> str:
    return _ID_PREFIX.get(item.get("type", "message"), "item")


_ID_PREFIX = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
}
