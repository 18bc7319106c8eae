"""OpenAI Responses' `item_reference` input items, resolved to the items they name.

Clients that keep a history of stored responses send earlier items back by id alone
(`{"type": "item_reference", "id": "msg_..."}`, the `input` of
https://platform.openai.com/docs/api-reference/responses/create). Every item id Rhone returns
names its response (rhone.dialects.openai_responses.item_ids), and the response's turn holds
the item: a reference is replaced by the item re-encoded from that turn, exactly as GET
/v1/responses/{id} and its input_items show it, before the dialect decodes the body. The turn is
looked up within the caller's tenant, so another tenant's id is as unknown as a made-up one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from rhone.dialects.openai_responses.item_ids import response_id_of
from rhone.errors import Code, RhoneError
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc
from services.translator.stored_responses import input_items, retrieved
from services.translator.surfaces import SurfaceSpec

# OpenAI's own words for an item it does not have (a made-up id, or one of a `store: false`
# response): clients and proxies recognise this message to drop such items and retry.
_NOT_FOUND = (
    "Item with id '{id}' not found. Items are not persisted when `store` is set to false. "
    "Try again with `store` set to true, or remove this item from your input."
)


def is_reference(item: Any) -> bool:
    """An item_reference; its `type` may be left out (the API's ItemReferenceParam)."""
    if not isinstance(item, Mapping):
        return False
    kind = item.get("type")
    return kind == "item_reference" or (kind is None and "role" not in item and "id" in item)


async def resolve_item_references(
    sessions: sessions_pb2_grpc.SessionServiceStub,
    surface: SurfaceSpec,
    tenant_id: str,
    body: dict[str, Any],
) -> None:
    """Replaces each item_reference of ``body["input"]`` by the stored item it names."""
    items = body.get("input")
    if not isinstance(items, list) or not any(is_reference(item) for item in items):
        return
    stored: dict[str, dict[str, dict[str, Any]]] = {}
    resolved: list[Any] = []
    for i, item in enumerate(items):
        if not is_reference(item):
            resolved.append(item)
            continue
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise RhoneError.invalid(
                f"Missing required parameter: 'input[{i}].id'.", param=f"input[{i}].id"
            )
        response_id = response_id_of(item_id)
        if response_id is not None and response_id not in stored:
            stored[response_id] = await _items_of(sessions, surface, tenant_id, response_id)
        found = stored.get(response_id or "", {}).get(item_id)
        if found is None:
            raise RhoneError.of(
                Code.ERROR_CODE_NOT_FOUND, _NOT_FOUND.format(id=item_id), param="input"
            )
        resolved.append(found)
    body["input"] = resolved


async def _items_of(
    sessions: sessions_pb2_grpc.SessionServiceStub,
    surface: SurfaceSpec,
    tenant_id: str,
    response_id: str,
) -> dict[str, dict[str, Any]]:
    """Every item of a stored response by id: its input items, then its output items."""
    try:
        found = await sessions.GetTurnByResponseId(
            spb.GetTurnByResponseIdRequest(tenant_id=tenant_id, response_id=response_id)
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return {}
    items = [
        *input_items(found.turn, "asc")["data"],
        *retrieved(surface, found.turn, found.session_id)["output"],
    ]
    return {item["id"]: item for item in items if isinstance(item.get("id"), str)}
