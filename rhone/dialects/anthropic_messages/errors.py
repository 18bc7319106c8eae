"""Anthropic error bodies <-> ``Failure``.

The body is ``{"type":"error","error":{"type","message"}}`` (docs.claude.com/en/api/errors).
The SDK picks its exception class from the HTTP status alone, so the status carries the
meaning; 529 (``overloaded_error``) is Anthropic's own capacity signal and is what its clients
retry on, so an overloaded failure with no status of its own is answered with 529 here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rhone.errors import code_for_status, http_status_of, make_failure
from rhone.v1 import generation_pb2 as gen

_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_CODE_FOR_TYPE: dict[str, int] = {
    "invalid_request_error": gen.ERROR_CODE_INVALID_REQUEST,
    "authentication_error": gen.ERROR_CODE_AUTHENTICATION,
    "billing_error": gen.ERROR_CODE_PERMISSION,
    "permission_error": gen.ERROR_CODE_PERMISSION,
    "not_found_error": gen.ERROR_CODE_NOT_FOUND,
    "request_too_large": gen.ERROR_CODE_REQUEST_TOO_LARGE,
    "rate_limit_error": gen.ERROR_CODE_RATE_LIMITED,
    "api_error": gen.ERROR_CODE_INTERNAL,
    "timeout_error": gen.ERROR_CODE_TIMEOUT,
    "overloaded_error": gen.ERROR_CODE_OVERLOADED,
}
_TOO_LONG = "prompt is too long"
# No canonical code means "billing"; the 402 status keeps it on the way to a client.
_BILLING_STATUS = 402


def error_type(status: int) -> str:
    if status in _TYPE_FOR_STATUS:
        return _TYPE_FOR_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def surface_status(failure: gen.Failure) -> int:
    if failure.code == gen.ERROR_CODE_OVERLOADED and not failure.http_status:
        return 529
    return http_status_of(failure)


def encode_error(failure: gen.Failure) -> tuple[int, dict[str, Any]]:
    status = surface_status(failure)
    return status, error_body(status, failure.message)


def stream_failure(error: Any) -> gen.Failure:
    """A mid-stream ``event: error``. It carries no status of its own (the stream was a 200),
    so the failure keeps status 0 and each surface picks its own for the code."""
    error = error if isinstance(error, Mapping) else {}
    kind = error.get("type")
    code = _CODE_FOR_TYPE.get(kind, gen.ERROR_CODE_INTERNAL) if isinstance(kind, str) else None
    message = error.get("message")
    return make_failure(
        gen.ERROR_CODE_INTERNAL if code is None else code,
        message if isinstance(message, str) and message else "Anthropic stream failed.",
        http_status=_BILLING_STATUS if kind == "billing_error" else 0,
    )


def decode_error(status: int, body: bytes) -> gen.Failure:
    """An upstream non-2xx answer. The body may not be Anthropic's JSON at all (a proxy's HTML
    413, a gateway timeout page), so the status decides when the body cannot."""
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    error = error if isinstance(error, dict) else {}
    kind = error.get("type")
    code = _CODE_FOR_TYPE.get(kind) if isinstance(kind, str) else None
    message = error.get("message")
    if not isinstance(message, str) or not message:
        snippet = body[:500].decode("utf-8", errors="replace").strip() if parsed is None else ""
        message = snippet or f"Anthropic answered HTTP {status}."
    return make_failure(
        code if code is not None else code_for_status(status),
        message,
        http_status=status,
        retryable=status == 429 or status >= 500,
        # "prompt is too long: N tokens > M maximum": named as OpenAI names it, so that Rhone
        # can fit the context and retry (services/translator/turns.py).
        detail="context_length_exceeded" if message.startswith(_TOO_LONG) else "",
    )
