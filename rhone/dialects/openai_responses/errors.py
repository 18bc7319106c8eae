"""OpenAI error shapes both ways. The `{"error": {...}}` body is the same on both OpenAI
surfaces (docs/protocols/openai-chat.md#errors): `encode_error`/`decode_error` are chat's. What is
the Responses API's own is here: the stream's `error` event and a failed response's `error` object
(docs/protocols/openai-responses.md#response-object, #streaming)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.dialects.openai_chat.errors import CODE_FOR_TYPE
from rhone.errors import make_failure
from rhone.v1 import generation_pb2 as gen

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


def failure_from_error(error: Mapping[str, Any], fallback: str) -> gen.Failure:
    """A failure reported inside a 200 stream (an `error` event or a failed response), where
    no status says what kind it is: the error's code, else its type, decides."""
    detail = _text(error.get("code"))
    code = _CODE_OF_ERROR_CODE.get(detail) or CODE_FOR_TYPE.get(_text(error.get("type")))
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


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
