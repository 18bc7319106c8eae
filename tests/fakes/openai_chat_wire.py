"""OpenAI Chat Completions on the wire (docs/protocols/openai-chat.md#response-object, #usage,
#streaming, #errors), written by hand.

Stream order: role chunk, content deltas, per tool call a first delta with index/id/type/name
and ``arguments: ""`` then argument fragments, a finish chunk with an empty delta, a usage
chunk with ``choices: []`` when ``stream_options.include_usage``, then ``data: [DONE]``.
Chat has no wire field for reasoning text, so ``Thinking`` is not rendered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from tests.fakes.openai_common import error_object, error_plan, response_headers
from tests.fakes.plans import Frame, Plan, Step
from tests.fakes.scenarios import Error, Text
from tests.fakes.server import RecordedRequest, sse

_DONE = b"data: [DONE]\n\n"
_FINGERPRINT = "fp_fake0001"


class ChatWire:
    """Chat Completions encodings for one request."""

    def __init__(self, request: RecordedRequest, new_id: Callable[[str], str]) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        options = body.get("stream_options") or {}
        self.model = str(body.get("model", "gpt-4o-mini"))
        self.include_usage = bool(options.get("include_usage"))
        # Padding on delta chunks is on by default (docs/protocols/openai-chat.md#streaming);
        # clients must ignore it.
        self.obfuscate = options.get("include_obfuscation", True) is not False
        self.completion_id = new_id("chatcmpl-")
        self.request_id = new_id("req_")
        self.created = int(time.time())
        self._new_id = new_id

    def success_headers(self, streaming: bool) -> dict[str, str]:
        kind = "text/event-stream; charset=utf-8" if streaming else "application/json"
        return response_headers(self.request_id, kind)

    def error(self, failure: Error) -> Plan:
        return error_plan(failure, self.request_id)

    def body(self, reply: Text) -> bytes:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.text if reply.chunks else None,
            "refusal": None,
            "annotations": [],
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for call_id, call in zip(self._call_ids(reply), reply.tool_calls, strict=True)
            ]
        return orjson.dumps(
            {
                "id": self.completion_id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": _finish_reason(reply),
                    }
                ],
                "usage": _usage(reply),
                "service_tier": "default",
                "system_fingerprint": _FINGERPRINT,
            }
        )

    def stream(self, reply: Text) -> list[Frame]:
        frames = []
        role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if reply.chunks or not reply.tool_calls:
            frames.append(Frame(self._chunk(role)))
            role = {}
        for text in reply.chunks:
            frames.append(Frame(self._chunk({"content": text}), content=True))
        for index, (call_id, call) in enumerate(
            zip(self._call_ids(reply), reply.tool_calls, strict=True)
        ):
            # The recorded capture carries the role on the first tool-call delta when there is
            # no text, with ``content: null``.
            first = {
                **({"role": "assistant", "content": None} if role else {}),
                "tool_calls": [
                    {
                        "index": index,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ],
                **({"refusal": None} if role else {}),
            }
            role = {}
            frames.append(Frame(self._chunk(first)))
            for fragment in call.arguments_json_chunks:
                delta = {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                frames.append(Frame(self._chunk(delta), content=True))
        frames.append(Frame(self._chunk({}, finish_reason=_finish_reason(reply))))
        if self.include_usage:
            frames.append(Frame(sse(None, self._envelope([], usage=_usage(reply)))))
        frames.append(Frame(_DONE))
        return frames

    def stream_error(self, status: int, message: str | None, sent: tuple[Step, ...]) -> list[Frame]:
        # A data object with a truthy top-level "error" makes the SDK raise APIError.
        return [Frame(sse(None, {"error": error_object(status, message)}))]

    def hang_preamble(self) -> list[Frame]:
        return [Frame(self._chunk({"role": "assistant", "content": "", "refusal": None}))]

    def keepalive(self) -> bytes:
        return b": keep-alive\n\n"

    def _call_ids(self, reply: Text) -> list[str]:
        return [call.call_id or self._new_id("call_") for call in reply.tool_calls]

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        envelope = self._envelope([choice], usage=None)
        if self.obfuscate and delta and finish_reason is None:
            envelope["obfuscation"] = "fAkEpAd"
        return sse(None, envelope)

    def _envelope(self, choices: list[Any], usage: dict[str, Any] | None) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            envelope["usage"] = usage  # null on every chunk but the last (SDK doc)
        return envelope


def _finish_reason(reply: Text) -> str:
    if reply.stop == "max_tokens":
        return "length"
    return "tool_calls" if reply.tool_calls else "stop"


def _usage(reply: Text) -> dict[str, Any]:
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
