"""A fake ``api.anthropic.com``: Messages (JSON and SSE) and token counting.

Point the SDK at ``fake.base_url`` (no ``/v1``: the SDK adds it). Every call must carry
``anthropic-version`` (400 otherwise) and ``x-api-key`` or ``Authorization: Bearer`` (401
otherwise; with ``api_key`` set the value must match). Wire facts:
docs/protocols/anthropic-messages.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.plans import Frame, Plan, Step, failure_body
from tests.fakes.scenarios import Error, Scenario, Text
from tests.fakes.server import FakeServer, RecordedRequest, sse

# status -> (error.type, message) per docs.claude.com/en/api/errors
# (docs/protocols/anthropic-messages.md#errors).
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def error_object(status: int, message: str | None = None) -> dict[str, str]:
    kind, text = _ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", f"HTTP {status}")
    )
    return {"type": kind, "message": message or text}


class MessagesWire:
    """Messages encodings for one request."""

    def __init__(self, request: RecordedRequest, new_id: Callable[[str], str]) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        self.model = str(body.get("model", "claude-sonnet-4-5"))
        self.message_id = new_id("msg_01")
        self.request_id = new_id("req_01")
        self._new_id = new_id

    def success_headers(self, streaming: bool) -> dict[str, str]:
        kind = "text/event-stream; charset=utf-8" if streaming else "application/json"
        return {"content-type": kind, "request-id": self.request_id}

    def error(self, failure: Error) -> Plan:
        return error_plan(failure, self.request_id)

    def body(self, reply: Text) -> bytes:
        blocks: list[dict[str, Any]] = []
        if reply.thinking is not None:
            thinking = reply.thinking
            blocks.append(
                {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}
            )
        if reply.chunks:
            blocks.append({"type": "text", "text": reply.text})
        for tool_id, call in zip(self._tool_ids(reply), reply.tool_calls, strict=True):
            arguments = orjson.loads(call.arguments_json or "{}")
            blocks.append(
                {"type": "tool_use", "id": tool_id, "name": call.name, "input": arguments}
            )
        message = self._message(blocks, _stop_reason(reply), _usage(reply, reply.usage[1]))
        return orjson.dumps(message)

    def stream(self, reply: Text) -> list[Frame]:
        frames = self._preamble(reply.usage[0], reply.cached_tokens)
        index = 0
        start: dict[str, Any]
        if reply.thinking is not None:
            start = {"type": "thinking", "thinking": "", "signature": ""}
            frames.append(_event("content_block_start", index=index, content_block=start))
            for chunk in reply.thinking.chunks:
                delta = {"type": "thinking_delta", "thinking": chunk}
                frames.append(_event("content_block_delta", True, index=index, delta=delta))
            # The signature arrives whole, just before the thinking block stops.
            signature = {"type": "signature_delta", "signature": reply.thinking.signature}
            frames.append(_event("content_block_delta", index=index, delta=signature))
            frames.append(_event("content_block_stop", index=index))
            index += 1
        if reply.chunks:
            start = {"type": "text", "text": ""}
            frames.append(_event("content_block_start", index=index, content_block=start))
            for chunk in reply.chunks:
                delta = {"type": "text_delta", "text": chunk}
                frames.append(_event("content_block_delta", True, index=index, delta=delta))
            frames.append(_event("content_block_stop", index=index))
            index += 1
        for tool_id, call in zip(self._tool_ids(reply), reply.tool_calls, strict=True):
            start = {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}}
            frames.append(_event("content_block_start", index=index, content_block=start))
            for fragment in call.arguments_json_chunks:
                delta = {"type": "input_json_delta", "partial_json": fragment}
                frames.append(_event("content_block_delta", True, index=index, delta=delta))
            frames.append(_event("content_block_stop", index=index))
            index += 1
        stop = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
        # output_tokens in message_delta is cumulative: the SDK overwrites, never adds.
        usage = {"output_tokens": reply.usage[1]}
        frames.append(_event("message_delta", delta=stop, usage=usage))
        frames.append(_event("message_stop"))
        return frames

    def stream_error(self, status: int, message: str | None, sent: tuple[Step, ...]) -> list[Frame]:
        return [_event("error", error=error_object(status, message))]

    def hang_preamble(self) -> list[Frame]:
        return self._preamble(input_tokens=10)

    def keepalive(self) -> bytes:
        return _event("ping").data

    def _preamble(self, input_tokens: int, cached: int = 0) -> list[Frame]:
        """``message_start`` (output_tokens 1, as upstream) then the first ``ping``."""
        start = self._message([], None, _usage_at_start(input_tokens, cached))
        return [_event("message_start", message=start), _event("ping")]

    def _message(
        self, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }

    def _tool_ids(self, reply: Text) -> list[str]:
        return [call.call_id or self._new_id("toolu_01") for call in reply.tool_calls]


def error_plan(failure: Error, request_id: str) -> Plan:
    headers = {"content-type": "application/json", "request-id": request_id}
    if (retry_after := failure.retry_after_header()) is not None:
        headers["retry-after"] = retry_after
    headers.update(failure.headers)
    error = error_object(failure.status, failure.message)
    body = failure_body(
        failure, lambda: {"type": "error", "error": error, "request_id": request_id}
    )
    return Plan(status=failure.status, headers=headers, steps=(Frame(body),))


class FakeAnthropic(FakeServer):
    """``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

    ``count_tokens`` answers ``{"input_tokens": fake.token_count}`` and consumes no scenario.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        token_count: int = 12,
        default: Scenario | None = None,
    ) -> None:
        super().__init__(default=default)
        self.api_key = api_key
        self.token_count = token_count

    def routes(self) -> list[Route]:
        return [
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
        ]

    async def _messages(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded)) is not None:
            return denied
        wire = MessagesWire(recorded, self.new_id)
        streaming = isinstance(recorded.body, dict) and recorded.body.get("stream") is True
        return self.respond(self.next_scenario(recorded), wire, streaming)

    async def _count_tokens(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded)) is not None:
            return denied
        headers = {"content-type": "application/json", "request-id": self.new_id("req_01")}
        body = orjson.dumps({"input_tokens": self.token_count})
        return self.send_plan(Plan(headers=headers, steps=(Frame(body),)))

    def unknown_route(self, recorded: RecordedRequest) -> Plan:
        return error_plan(Error(404, message="Not Found"), self.new_id("req_01"))

    def _denied(self, recorded: RecordedRequest) -> Response | None:
        headers = recorded.headers
        key = headers.get("x-api-key") or _bearer(headers.get("authorization", ""))
        if not key:
            failure = Error(401, message="x-api-key header is required")
        elif self.api_key is not None and key != self.api_key:
            failure = Error(401, message="invalid x-api-key")
        elif "anthropic-version" not in headers:
            failure = Error(400, message="anthropic-version: header is required")
        else:
            return None
        return self.send_plan(error_plan(failure, self.new_id("req_01")))


def _bearer(value: str) -> str:
    return value[len("Bearer ") :] if value.startswith("Bearer ") else ""


def _event(kind: str, content: bool = False, **fields: Any) -> Frame:
    """An SSE frame whose ``event:`` name equals its ``type``: the SDK dispatches on it."""
    return Frame(sse(kind, {"type": kind, **fields}), content=content)


def _stop_reason(reply: Text) -> str:
    if reply.stop == "max_tokens":
        return "max_tokens"
    return "tool_use" if reply.tool_calls else "end_turn"


def _usage(reply: Text, output_tokens: int) -> dict[str, Any]:
    return {
        **_usage_at_start(reply.usage[0], reply.cached_tokens),
        "output_tokens": output_tokens,
    }


def _usage_at_start(input_tokens: int, cached: int = 0) -> dict[str, Any]:
    # Anthropic's input_tokens leaves out what was read from the cache.
    return {
        "input_tokens": input_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    }
