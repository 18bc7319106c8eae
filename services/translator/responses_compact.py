"""OpenAI Responses' `POST /v1/responses/compact`: the conversation (its `input`, and the
stored turns `previous_response_id` names) summarised by a model into one opaque `compaction`
item, answered as a `response.compaction` object with the user messages kept before it
(https://developers.openai.com/api/reference/resources/responses/methods/compact). Nothing is
recorded: the client sends the output back as the input of its next `responses.create`, on any
model, and the translator opens the item there (compaction.compactor)."""

from __future__ import annotations

import secrets
import time

import grpc
import orjson

from rhone.dialects.openai_responses.compaction import encode_compacted
from rhone.errors import RhoneError
from rhone.jsonutil import loads_object
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import translator_pb2 as tpb
from services.translator.compaction.compactor import Compactor
from services.translator.continuity import parse_continuity, split_instructions
from services.translator.surfaces import SurfaceSpec
from services.translator.turns import TurnRunner, rpc_failure

COMPACT_METHOD = "compact"
JSON = "application/json"


async def compact_call(
    runner: TurnRunner, compactor: Compactor, surface: SurfaceSpec, request: tpb.CallRequest
) -> list[tpb.CallFrame]:
    dialect = surface.dialect
    try:
        body = loads_object(request.body)
        continuity = parse_continuity(body.pop("rhone", None))
        decoded = dialect.decode_request(body, request.params)
        model = decoded.request.model
        if not model:
            raise RhoneError.invalid("Missing required parameter: 'model'.", param="model")
        compactor.open(request.tenant_id, decoded.request)
        previous = str(decoded.options.get("previous_response_id") or "")
        context = await _stored_context(runner, request.tenant_id, continuity.session_id, previous)
        system, new = split_instructions(list(decoded.request.messages))
        transcript = [*system, *context, *new]
        if not any(message.role != content.ROLE_SYSTEM for message in transcript):
            raise RhoneError.invalid(
                "There is nothing to compact: 'input' is empty.", param="input"
            )
        compacted = await compactor.compact(request.tenant_id, transcript, model=model)
    except RhoneError as exc:
        status, error = dialect.encode_error(exc.failure)
        return _frames(status, orjson.dumps(error), exc.failure.detail)
    answer = encode_compacted(
        response_id="resp_" + secrets.token_hex(24),
        created_at=int(time.time()),
        kept=compacted.kept,
        compaction=compacted.part,
        usage=compacted.usage,
    )
    return _frames(200, orjson.dumps(answer))


async def _stored_context(
    runner: TurnRunner, tenant_id: str, session_id: str, response_id: str
) -> list[content.Message]:
    if not (session_id or response_id):
        return []
    try:
        loaded = await runner.sessions.LoadContext(
            spb.LoadContextRequest(
                tenant_id=tenant_id, session_id=session_id, from_response_id=response_id
            )
        )
    except grpc.aio.AioRpcError as exc:
        raise rpc_failure(exc, what="response" if response_id else "session") from None
    return list(loaded.context)


def _frames(status: int, payload: bytes, error_code: str = "") -> list[tpb.CallFrame]:
    headers = {"x-rhone-error-code": error_code} if error_code else {}
    return [
        tpb.CallFrame(head=tpb.CallHead(status=status, content_type=JSON, headers=headers)),
        tpb.CallFrame(data=payload),
    ]
