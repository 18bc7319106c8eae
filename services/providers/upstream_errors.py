"""What a client may learn of an upstream's failure, and what only the operator may.

An upstream's error text is written for the holder of the provider key, which is Rhone, not the
tenant: it can echo the key (``Incorrect API key provided: sk-...``), name the operator's
organisation, or be a proxy's HTML page with internal addresses and a traceback. So:

- 401/403 (and Google's ``API_KEY_INVALID``) become ``502 upstream_auth_failed``: the provider
  rejected Rhone's credentials, which no client can fix. The next deployment may hold other
  credentials, so the call fails over to it.
- A structured error the client needs to fix its request (invalid request, context length,
  content filter, unknown model, too large) passes in the surface's shape with its message and
  code only, the key masked out of the message.
- Anything else (5xx, rate limits, non-JSON bodies) gets a clean message of Rhone's own; the
  status class, the retry hint and a plain upstream code are kept.

Every replaced text is logged for the operator, with the key masked.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from rhone.errors import Code, make_failure
from rhone.v1 import generation_pb2 as gen
from services.providers.routing import Deployment

log = logging.getLogger("rhone.providers.upstream")

UPSTREAM_AUTH_FAILED = "upstream_auth_failed"
UPSTREAM_TIMEOUT = "upstream_timeout"
UPSTREAM_ERROR = "upstream_error"
UPSTREAM_INVALID_RESPONSE = "upstream_invalid_response"
UPSTREAM_UNREACHABLE = "upstream_unreachable"

# Failures that say "this deployment cannot serve now" rather than "this request is wrong" or
# "try again shortly": the call moves to the next deployment at once, without retrying here.
NEXT_DEPLOYMENT = frozenset({UPSTREAM_AUTH_FAILED, UPSTREAM_TIMEOUT})

_CLIENT_CODES = frozenset(
    {
        Code.ERROR_CODE_INVALID_REQUEST,
        Code.ERROR_CODE_NOT_FOUND,
        Code.ERROR_CODE_REQUEST_TOO_LARGE,
        Code.ERROR_CODE_CONFLICT,
    }
)
_AUTH_CODES = frozenset({Code.ERROR_CODE_AUTHENTICATION, Code.ERROR_CODE_PERMISSION})
# A machine code worth keeping (``context_length_exceeded``, ``content_filter``...); anything
# else (a sentence, a number) is dropped.
_PLAIN_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_MAX_MESSAGE = 2000
_MAX_LOGGED = 500
# 503, 504 and 529 say something a client can act on; other 5xx are the upstream's fault.
_KEPT_5XX = frozenset({503, 504, 529})


def error_answer(
    deployment: Deployment, status: int, body: bytes, decoded: gen.Failure
) -> gen.Failure:
    """The failure a client sees for an upstream's non-2xx answer (``decoded`` by its dialect)."""
    structured = _is_structured(body)
    if status in (401, 403) or decoded.code in _AUTH_CODES:
        return auth_failed(deployment, status, body.decode("utf-8", "replace"))
    if not structured:
        _log_replaced(deployment, status, body.decode("utf-8", "replace"))
    return _public(deployment, decoded, status, structured)


def stream_error(deployment: Deployment, failure: gen.Failure) -> gen.Failure:
    """The failure a client sees for an error the upstream reported inside a 200 stream (an
    error object, hence structured)."""
    status = failure.http_status
    if failure.code in _AUTH_CODES:
        return auth_failed(deployment, status, failure.message)
    return _public(deployment, failure, status, structured=True)


def auth_failed(deployment: Deployment, status: int, upstream_text: str) -> gen.Failure:
    log.warning(
        "%r rejected Rhone's credentials (HTTP %s, key %s): %s",
        deployment,
        status or "in stream",
        key_hint(deployment.api_key),
        scrub(upstream_text, deployment.api_key)[:_MAX_LOGGED],
    )
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE,
        f"The provider {deployment.provider} rejected Rhone's credentials"
        f"{f' (HTTP {status})' if status else ''}. This is a gateway configuration problem "
        "for its operator; the request itself was not at fault.",
        detail=UPSTREAM_AUTH_FAILED,
        http_status=502,
        retryable=False,
    )


def credentials_failed(deployment: Deployment, failure: gen.Failure) -> gen.Failure:
    """Rhone could not produce its own credentials for the upstream (a Vertex service account
    that does not load or refresh). The text names the operator's files and Google's answer: it
    goes to the log; the client learns it is the gateway's problem, never a 401 of its own."""
    if not failure.retryable:
        return auth_failed(deployment, 0, failure.message)
    log.warning("%r: credentials unavailable: %s", deployment, failure.message[:_MAX_LOGGED])
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE,
        f"Rhone could not obtain its credentials for the provider {deployment.provider}; "
        "retry later.",
        detail=UPSTREAM_UNREACHABLE,
        http_status=503,
        retryable=True,
    )


def timed_out(deployment: Deployment, waited_for: str, seconds: float) -> gen.Failure:
    """An upstream that did not answer in time (``waited_for``: what it did not send)."""
    log.warning("%r sent no %s within %gs", deployment, waited_for, seconds)
    return make_failure(
        Code.ERROR_CODE_TIMEOUT,
        f"The provider {deployment.provider} sent no {waited_for} within {seconds:g}s.",
        detail=UPSTREAM_TIMEOUT,
        http_status=504,
        retryable=True,
    )


def invalid_response(deployment: Deployment, what: str) -> gen.Failure:
    """An upstream answer Rhone cannot read (a garbage stream, a body that is not JSON)."""
    log.warning("%r sent %s", deployment, what)
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE,
        f"The provider {deployment.provider} sent an answer Rhone could not read.",
        detail=UPSTREAM_INVALID_RESPONSE,
        http_status=502,
        retryable=True,
    )


def scrub(text: str, key: str) -> str:
    """``text`` without the key (nor its bearer form), for a log or a passed-through message."""
    return text.replace(key, "***") if len(key) >= 4 else text


def key_hint(key: str) -> str:
    """Enough of a key for an operator to tell which one it is, never enough to use it."""
    if not key:
        return "(none)"
    return f"...{key[-4:]}" if len(key) >= 16 else "***"


def _public(
    deployment: Deployment, failure: gen.Failure, status: int, structured: bool
) -> gen.Failure:
    detail = failure.detail if _PLAIN_CODE.match(failure.detail) else ""
    if structured and failure.code in _CLIENT_CODES:
        message = scrub(failure.message, deployment.api_key)[:_MAX_MESSAGE]
        return make_failure(
            failure.code,
            message,
            detail=detail,
            param=failure.param,
            http_status=failure.http_status,
            retryable=failure.retryable,
            retry_after_ms=failure.retry_after_ms,
        )
    if structured and failure.message:
        _log_replaced(deployment, status, failure.message, level=logging.INFO)
    http_status = failure.http_status
    if http_status >= 500 and http_status not in _KEPT_5XX:
        http_status = 502
    return make_failure(
        failure.code,
        _clean_message(deployment.provider, failure.code, status),
        detail=detail or UPSTREAM_ERROR,
        http_status=http_status,
        retryable=failure.retryable,
        retry_after_ms=failure.retry_after_ms,
    )


def _clean_message(provider: str, code: int, status: int) -> str:
    answered = f" (HTTP {status})" if status else ""
    if code == Code.ERROR_CODE_RATE_LIMITED:
        return f"The provider {provider} is rate limiting requests{answered}; retry later."
    if code == Code.ERROR_CODE_OVERLOADED:
        return f"The provider {provider} is overloaded{answered}; retry later."
    if code == Code.ERROR_CODE_TIMEOUT:
        return f"The provider {provider} timed out{answered}."
    if status and status < 500:
        return f"The provider {provider} refused the request{answered}."
    return f"The provider {provider} failed{answered}."


def _log_replaced(
    deployment: Deployment, status: int, text: str, level: int = logging.WARNING
) -> None:
    log.log(
        level,
        "%r answered HTTP %s: %s",
        deployment,
        status or "in stream",
        scrub(" ".join(text.split()), deployment.api_key)[:_MAX_LOGGED],
    )


def _is_structured(body: bytes) -> bool:
    """Whether the body is a provider's JSON error envelope (OpenAI, Anthropic and Google all
    put an ``error`` object, or a string, at the top; Vertex wraps it in a list)."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, str):
        return bool(error)
    return isinstance(error, dict) and isinstance(error.get("message"), str)
