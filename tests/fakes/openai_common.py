"""What OpenAI's two HTTP surfaces share: the error envelope and the response headers.

Error bodies are ``{"error":{"message","type","param","code"}}``
(docs/protocols/openai-chat.md#errors); the SDK reads ``x-request-id``, ``retry-after`` and
``x-should-retry`` from the headers
(docs/protocols/openai-chat.md#headers).
"""

from __future__ import annotations

from tests.fakes.plans import Frame, Plan, failure_body
from tests.fakes.scenarios import Error

# status -> (type, code, message), the typical values of the error-codes guide.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM). Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def error_object(status: int, message: str | None = None) -> dict[str, object]:
    """The inner ``error`` object for ``status`` (also used inside streams)."""
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    kind, code, text = _ERRORS.get(status, (default_type, None, f"HTTP {status}"))
    return {"message": message or text, "type": kind, "param": None, "code": code}


def response_headers(request_id: str, content_type: str) -> dict[str, str]:
    return {
        "content-type": content_type,
        "x-request-id": request_id,
        "openai-version": "2020-10-01",
        "openai-processing-ms": "7",
    }


def error_plan(failure: Error, request_id: str) -> Plan:
    headers = response_headers(request_id, "application/json")
    if (retry_after := failure.retry_after_header()) is not None:
        headers["retry-after"] = retry_after
    headers.update(failure.headers)
    body = failure_body(failure, lambda: {"error": error_object(failure.status, failure.message)})
    return Plan(status=failure.status, headers=headers, steps=(Frame(body),))
