"""OpenAI error shapes both ways: the `{"error": {...}}` body (PROTOCOLS.md 1.6, shared with chat),
the stream's `error` event and a failed response's `error` object (2.3, 2.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rhone.errors import code_for_status, http_status_of, make_failure
from rhone.v1 import generation_pb2 as gen

_TYPE_OF_CODE: dict[int, str] = {
    gen.ERROR_CODE_INVALID_REQUEST: "invalid_request_error",
    gen.ERROR_CODE_NOT_FOUND: "invalid_request_error",
    gen.ERROR_CODE_CONFLICT: "invalid_request_error",
    gen.ERROR_CODE_REQUEST_TOO_LARGE: "invalid_request_error",
    gen.ERROR_CODE_AUTHENTICATION: "authentication_error",
    gen.ERROR_CODE_PERMISSION: "permission_error",
    gen.ERROR_CODE_RATE_LIMITED: "rate_limit_error",
}

_CODE_OF_TYPE: dict[str, int] = {
    "invalid_request_error": gen.ERROR_CODE_INVALID_REQUEST,
    "authentication_error": gen.ERROR_CODE_AUTHENTICATION,
    "permission_error": gen.ERROR_CODE_PERMISSION,
    "not_found_error": gen.ERROR_CODE_NOT_FOUND,
    "rate_limit_error": gen.ERROR_CODE_RATE_LIMITED,
    "insufficient_quota": gen.ERROR_CODE_RATE_LIMITED,
    "server_error": gen.ERROR_CODE_INTERNAL,
}

_CODE_OF_ERROR_CODE: dict[str, int] = {
    "server_error": gen.ERROR_CODE_INTERNAL,
    "rate_limit_exceeded": gen.ERROR_CODE_RATE_LIMITED,
    "insufficient_quota": gen.ERROR_CODE_RATE_LIMITED,
    "vector_store_timeout": gen.ERROR_CODE_TIMEOUT,
    "invalid_prompt": gen.ERROR_CODE_INVALID_REQUEST,
    "context_length_exceeded": gen.ERROR_CODE_INVALID_REQUEST,
    "model_not_found": gen.ERROR_CODE_NOT_FOUND,
    "previous_response_not_found": gen.ERROR_CODE_NOT_FOUND,
    "invalid_api_key": gen.ERROR_CODE_AUTHENTICATION,
}

# `Response.error.code` is a closed Literal in the SDK (types/responses/response_error.py); a
# code outside it fails strict validation, so a failure is rendered with the nearest member.
RESPONSE_ERROR_CODES = frozenset(
    {
        "server_error",
        "rate_limit_exceeded",
        "invalid_prompt",
        "vector_store_timeout",
        "invalid_image",
        "invalid_image_format",
        "invalid_base64_image",
        "invalid_image_url",
        "image_too_large",
        "image_too_small",
        "image_parse_error",
        "image_content_policy_violation",
        "invalid_image_mode",
        "image_file_too_large",
        "unsupported_image_media_type",
        "empty_image_file",
        "failed_to_download_image",
        "image_file_not_found",
    }
)

# A 429 for an exhausted quota will not clear by waiting (docs error-codes guide).
_NOT_RETRYABLE = frozenset({"insufficient_quota"})


def encode_error(failure: gen.Failure) -> tuple[int, dict[str, Any]]:
    body = {
        "message": failure.message,
        "type": _TYPE_OF_CODE.get(failure.code, "server_error"),
        "param": failure.param or None,
        "code": failure.detail or None,
    }
    return http_status_of(failure), {"error": body}


def response_error(failure: gen.Failure) -> dict[str, Any]:
    """The `error` object of a failed response."""
    if failure.detail in RESPONSE_ERROR_CODES:
        code = failure.detail
    elif failure.code == gen.ERROR_CODE_RATE_LIMITED:
        code = "rate_limit_exceeded"
    elif failure.code == gen.ERROR_CODE_INVALID_REQUEST:
        code = "invalid_prompt"
    else:
        code = "server_error"
    return {"code": code, "message": failure.message}


def decode_error(status: int, body: bytes) -> gen.Failure:
    """An upstream's non-2xx answer. The HTTP status decides the code; the body adds the
    message, the machine-readable `code` (as detail) and `param`."""
    error = _error_object(body)
    message = _text(error.get("message")) or _fallback_message(status, body)
    detail = _text(error.get("code"))
    return make_failure(
        code_for_status(status),
        message,
        detail=detail,
        param=_text(error.get("param")),
        retryable=False if detail in _NOT_RETRYABLE else None,
    )


def failure_from_error(error: Mapping[str, Any], fallback: str) -> gen.Failure:
    """A failure reported inside a 200 stream (an `error` event or a failed response), where
    no status says what kind it is: the error's code, else its type, decides."""
    detail = _text(error.get("code"))
    code = _CODE_OF_ERROR_CODE.get(detail) or _CODE_OF_TYPE.get(_text(error.get("type")))
    if code is None:
        invalid = detail.startswith(("invalid_", "image_")) or "image" in detail
        code = gen.ERROR_CODE_INVALID_REQUEST if invalid else gen.ERROR_CODE_INTERNAL
    return make_failure(
        code,
        _text(error.get("message")) or fallback,
        detail=detail,
        param=_text(error.get("param")),
        retryable=False if detail in _NOT_RETRYABLE else None,
    )


def _error_object(body: bytes) -> Mapping[str, Any]:
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return {}
    if isinstance(parsed, Mapping):
        error = parsed.get("error")
        if isinstance(error, Mapping):
            return error
        if isinstance(error, str):  # some OpenAI-compatible servers send a bare string
            return {"message": error}
    return {}


def _fallback_message(status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()[:500]
    return text or f"Upstream answered HTTP {status}."


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
