"""Chat's error envelope, both ways: ``{"error": {"message", "type", "param", "code"}}``.

The SDK picks its exception class from the HTTP status and fills ``.type``, ``.code`` and
``.param`` from this object (docs/protocols/openai-chat.md#errors); inside a stream, a data object
with a truthy ``error`` makes it raise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rhone.errors import code_for_status, http_status_of, make_failure
from rhone.v1 import generation_pb2 as gen

_RETRYABLE_STATUSES = frozenset({408, 409, 429})

# An error object read mid-stream has no HTTP status: its type is the best clue. The one table of
# OpenAI error types, for both OpenAI dialects.
CODE_FOR_TYPE = {
    "invalid_request_error": gen.ERROR_CODE_INVALID_REQUEST,
    "authentication_error": gen.ERROR_CODE_AUTHENTICATION,
    "permission_error": gen.ERROR_CODE_PERMISSION,
    "not_found_error": gen.ERROR_CODE_NOT_FOUND,
    "rate_limit_error": gen.ERROR_CODE_RATE_LIMITED,
    "insufficient_quota": gen.ERROR_CODE_RATE_LIMITED,
    "server_error": gen.ERROR_CODE_INTERNAL,
}


def error_type(status: int, detail: str) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "insufficient_quota" if detail == "insufficient_quota" else "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_object(failure: gen.Failure) -> dict[str, Any]:
    status = http_status_of(failure)
    return {
        "message": failure.message or f"The request failed with status {status}.",
        "type": error_type(status, failure.detail),
        "param": failure.param or None,
        "code": failure.detail or None,
    }


def encode_error(failure: gen.Failure) -> tuple[int, dict[str, Any]]:
    return http_status_of(failure), {"error": error_object(failure)}


def decode_error(status: int, body: bytes) -> gen.Failure:
    """An upstream's non-2xx answer -> a Failure. Bodies that are not chat's envelope (a proxy's
    HTML page, plain text) keep their text as the message."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    if error is None:
        text = body.decode("utf-8", errors="replace").strip()
        error = {"message": text} if text else {}
    failure = failure_from_error(error, status)
    # An exhausted quota is a 429 that waiting will not clear (OpenAI's error-codes guide).
    failure.retryable = failure.detail != "insufficient_quota" and (
        status in _RETRYABLE_STATUSES or status >= 500
    )
    return failure


def failure_from_error(error: Any, status: int = 0) -> gen.Failure:
    """Chat's error object (or, from some compatible servers, a bare string) -> a Failure.

    ``code`` is usually a string ("model_not_found"); vLLM-style servers put the HTTP status
    there as a number instead, which then stands in for a missing status."""
    if not isinstance(error, Mapping):
        error = {"message": str(error)}
    code = error.get("code")
    if status == 0 and isinstance(code, int) and not isinstance(code, bool):
        status = code
    if status:
        canonical = code_for_status(status)
    else:
        canonical = CODE_FOR_TYPE.get(str(error.get("type")), gen.ERROR_CODE_INTERNAL)
    message = error.get("message")
    param = error.get("param")
    return make_failure(
        canonical,
        message if isinstance(message, str) and message else "The upstream returned an error.",
        detail=code if isinstance(code, str) else "",
        param=param if isinstance(param, str) else "",
        http_status=status,
    )
