"""Gemini ``GenerateContentResponse`` on the wire (docs/protocols/gemini.md#response-object,
#streaming, #errors, #vertex-differences), by hand.

Streaming with ``alt=sse``: ``data: {…}\\r\\n\\r\\n`` (Google frontends use CRLF), each event a
whole response carrying only the new parts; a function call arrives whole in one chunk;
``finishReason`` and the full ``usageMetadata`` ride on the last chunk; no sentinel. Without
``alt=sse`` the same objects stream as one JSON array. Function calls end with ``STOP``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tests.fakes.plans import Frame, Plan, Step, failure_body
from tests.fakes.scenarios import Error, Text, ToolCall

_CRLF = b"\r\n"

# HTTP status -> google.rpc status name and a typical message.
_STATUSES: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report."),
    501: ("NOT_IMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def error_object(status: int, message: str | None = None) -> dict[str, Any]:
    name, text = _STATUSES.get(status, ("UNKNOWN", f"HTTP {status}"))
    return {"code": status, "message": message or text, "status": name}


def error_plan(failure: Error, request_id: str) -> Plan:
    headers = {"content-type": "application/json; charset=UTF-8", "x-request-id": request_id}
    headers.update(failure.headers)
    error = error_object(failure.status, failure.message)
    if failure.retry_after is not None:
        # Google sends no retry-after header; the delay rides in a RetryInfo detail.
        delay = f"{failure.retry_after:g}s"
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        ]
    body = failure_body(failure, lambda: {"error": error})
    return Plan(status=failure.status, headers=headers, steps=(Frame(body),))


class GeminiWire:
    """Gemini encodings for one call; ``vertex`` adds Vertex-only fields."""

    def __init__(
        self,
        *,
        model: str,
        vertex: bool,
        sse: bool,
        new_id: Callable[[str], str],
        created: Callable[[], str],
    ) -> None:
        self.model = model.removeprefix("models/")
        self.vertex = vertex
        self.sse = sse
        self.response_id = new_id("")
        self.request_id = new_id("")
        self.create_time = created() if vertex else ""

    def success_headers(self, streaming: bool) -> dict[str, str]:
        kind = "text/event-stream" if streaming and self.sse else "application/json"
        return {"content-type": f"{kind}; charset=UTF-8", "x-request-id": self.request_id}

    def error(self, failure: Error) -> Plan:
        return error_plan(failure, self.request_id)

    def body(self, reply: Text) -> bytes:
        parts: list[dict[str, Any]] = []
        if reply.thinking is not None:
            parts.append({"text": reply.thinking.text, "thought": True})
        if reply.chunks:
            parts.append({"text": reply.text})
        parts.extend(_function_call(call) for call in reply.tool_calls)
        _sign(parts, reply)
        candidate = self._candidate(parts, _finish_reason(reply))
        return orjson.dumps(self._response(candidate, self._usage(reply, final=True)))

    def stream(self, reply: Text) -> list[Frame]:
        chunks: list[list[dict[str, Any]]] = []
        if reply.thinking is not None:
            chunks.extend([{"text": text, "thought": True}] for text in reply.thinking.chunks)
        chunks.extend([{"text": text}] for text in reply.chunks)
        if reply.tool_calls:
            chunks.append([_function_call(call) for call in reply.tool_calls])
        if not chunks:
            chunks.append([{"text": ""}])
        _sign([part for chunk in chunks for part in chunk], reply)
        frames = [Frame(b"[")] if not self.sse else []
        for position, parts in enumerate(chunks):
            last = position == len(chunks) - 1
            candidate = self._candidate(parts, _finish_reason(reply) if last else None)
            payload = self._response(candidate, self._usage(reply, final=last))
            frames.append(Frame(self._frame(payload, first=position == 0), content=True))
        if not self.sse:
            frames.append(Frame(b"]"))
        return frames

    def stream_error(self, status: int, message: str | None, sent: tuple[Step, ...]) -> list[Frame]:
        # google-genai raises APIError for any chunk whose JSON starts with {"error":.
        first = not any(isinstance(s, Frame) and s.content for s in sent)
        frame = Frame(self._frame({"error": error_object(status, message)}, first=first))
        return [frame] if self.sse else [frame, Frame(b"]")]

    def hang_preamble(self) -> list[Frame]:
        # Gemini has no "stream started" event: an empty text part is the nearest valid chunk.
        candidate = self._candidate([{"text": ""}], None)
        payload = self._response(candidate, self._usage(Text(), final=False))
        frames = [Frame(b"[")] if not self.sse else []
        return [*frames, Frame(self._frame(payload, first=True))]

    def keepalive(self) -> bytes:
        # A blank line: google-genai would try to parse any other non-"data: " line as JSON.
        return _CRLF

    def _frame(self, payload: dict[str, Any], *, first: bool) -> bytes:
        data = orjson.dumps(payload)
        if self.sse:
            return b"data: " + data + _CRLF + _CRLF
        return data if first else b"," + _CRLF + data

    def _candidate(self, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return candidate

    def _response(self, candidate: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = {"candidates": [candidate], "usageMetadata": usage}
        response["modelVersion"] = self.model
        if self.vertex:
            response["createTime"] = self.create_time
        response["responseId"] = self.response_id
        return response

    def _usage(self, reply: Text, *, final: bool) -> dict[str, Any]:
        prompt, output = reply.usage
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        if final:
            usage["candidatesTokenCount"] = output
            usage["totalTokenCount"] = prompt + output
            usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
            if reply.cached_tokens:
                usage["cachedContentTokenCount"] = reply.cached_tokens
            if self.vertex:
                usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": output}]
        else:
            usage["totalTokenCount"] = prompt
        if self.vertex:
            usage["trafficType"] = "ON_DEMAND"
        return usage


def _function_call(call: ToolCall) -> dict[str, Any]:
    body: dict[str, Any] = {"name": call.name, "args": orjson.loads(call.arguments_json or "{}")}
    if call.call_id is not None:
        body["id"] = call.call_id
    return {"functionCall": body}


def _sign(parts: list[dict[str, Any]], reply: Text) -> None:
    """Attach the thought signature: to the first function call, else the last text part
    (Gemini 3 behaviour), else the last thought part."""
    if reply.thinking is None or not parts:
        return
    calls = [part for part in parts if "functionCall" in part]
    texts = [part for part in parts if "text" in part and not part.get("thought")]
    target = calls[0] if calls else texts[-1] if texts else parts[-1]
    target["thoughtSignature"] = reply.thinking.signature


def _finish_reason(reply: Text) -> str:
    return "MAX_TOKENS" if reply.stop == "max_tokens" else "STOP"
