"""Google's error envelope both ways: ``{"error": {"code", "message", "status", "details"}}``
(docs/protocols/gemini.md#errors; Vertex uses the same one).

google-genai raises on any stream chunk whose JSON starts with ``{"error":``, so an error item
must have ``error`` as its first (and only) top-level key.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from rhone.dialects.gemini import fields
from rhone.errors import code_for_status, http_status_of, make_failure
from rhone.v1 import generation_pb2 as gen

_TYPE_PREFIX = "type.googleapis.com/google.rpc."


def encode_error(failure: gen.Failure) -> tuple[int, dict[str, Any]]:
    status = http_status_of(failure)
    return status, {"error": error_object(failure, status)}


def error_object(failure: gen.Failure, status: int) -> dict[str, Any]:
    name = (
        fields.STATUS_OF_CODE.get(failure.code) or fields.STATUS_OF_HTTP.get(status) or "INTERNAL"
    )
    error: dict[str, Any] = {"code": status, "message": failure.message, "status": name}
    details: list[dict[str, Any]] = []
    if failure.detail:
        details.append(
            {"@type": _TYPE_PREFIX + "ErrorInfo", "reason": failure.detail, "domain": "rhone"}
        )
    if failure.param:
        violation = {"field": failure.param, "description": failure.message}
        details.append({"@type": _TYPE_PREFIX + "BadRequest", "fieldViolations": [violation]})
    if failure.retry_after_ms:
        delay = f"{failure.retry_after_ms / 1000:.3f}".rstrip("0").rstrip(".")
        details.append({"@type": _TYPE_PREFIX + "RetryInfo", "retryDelay": f"{delay}s"})
    if details:
        error["details"] = details
    return error


def decode_error(status: int, body: bytes) -> gen.Failure:
    """An upstream error answer. Bodies that are not Google's envelope (a proxy's HTML page) still
    give a failure, coded from the HTTP status."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:  # Vertex's JSON-array stream wraps errors in a list
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return failure_of(error, status)
    text = body.decode("utf-8", "replace").strip()[:500]
    return make_failure(code_for_status(status), text or f"HTTP {status}", http_status=status)


def failure_of(error: dict[str, Any], status: int = 0) -> gen.Failure:
    """The canonical failure of an ``error`` object (an error answer, or a chunk in a stream)."""
    if not status and isinstance(error.get("code"), int):
        status = error["code"]
    name = error.get("status")
    code = fields.CODE_OF_STATUS.get(name) if isinstance(name, str) else None
    if code is None:
        code = code_for_status(status) if status else gen.ERROR_CODE_INTERNAL
    if status == 413:
        code = gen.ERROR_CODE_REQUEST_TOO_LARGE
    detail, param, retry_after_ms = "", "", 0
    for item in error.get("details") or []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("@type", "")).rsplit(".", 1)[-1]
        if kind == "ErrorInfo" and isinstance(item.get("reason"), str):
            detail = item["reason"]
        elif kind == "BadRequest":
            violations = item.get("fieldViolations") or [{}]
            if isinstance(violations[0], dict) and isinstance(violations[0].get("field"), str):
                param = violations[0]["field"]
        elif kind == "RetryInfo":
            retry_after_ms = _delay_ms(item.get("retryDelay"))
    if detail == "API_KEY_INVALID":  # Google answers a bad key with 400 INVALID_ARGUMENT
        code = gen.ERROR_CODE_AUTHENTICATION
    failure = make_failure(
        code,
        str(error.get("message") or name or f"HTTP {status}"),
        detail=detail,
        param=param,
        http_status=status,
    )
    failure.retry_after_ms = retry_after_ms
    return failure


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _delay_ms(value: Any) -> int:
    """A google.protobuf.Duration in JSON ("30s", "1.5s") in milliseconds."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    return round(float(match.group(1)) * 1000) if match else 0
