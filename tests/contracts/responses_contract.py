"""What every Responses object Rhone emits must be: valid against the Open Responses OpenAPI
schema (vendored beside this file, see open_responses/README.md) and against the official
openai SDK's pydantic types in strict mode (no coercion: a string where a number belongs fails).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
from jsonschema import Draft202012Validator
from openai.types.responses import Response, ResponseStreamEvent
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_SPEC_URI = "urn:open-responses:2026-04-24"
SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parent / "open_responses" / "openapi.json").read_text()
)
_REGISTRY: Registry = Registry().with_resource(
    _SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)
_STREAM_EVENT = "#/paths/~1responses/post/responses/200/content/text~1event-stream/schema"


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{_SPEC_URI}{pointer}"}, registry=_REGISTRY)


_RESPONSE_VALIDATOR = _validator("#/components/schemas/ResponseResource")
_EVENT_VALIDATOR = _validator(_STREAM_EVENT)
_WS_ERROR_VALIDATOR = _validator("#/components/schemas/WebSocketErrorEvent")
_EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)


def _spec_errors(validator: Draft202012Validator, obj: Any) -> list[str]:
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def check_response(obj: dict[str, Any], *, spec: bool = True) -> Response:
    """A Response object (whole body, GET /v1/responses/{id}, or an event's `response`)."""
    if spec:
        errors = _spec_errors(_RESPONSE_VALIDATOR, obj)
        assert not errors, "Open Responses ResponseResource:\n" + "\n".join(errors)
    return Response.model_validate(obj, strict=True)


def check_event(event: dict[str, Any], *, spec: bool = True) -> Any:
    """One stream event (SSE `data` or WebSocket frame)."""
    if spec:
        errors = _spec_errors(_EVENT_VALIDATOR, event)
        assert not errors, f"Open Responses stream event {event.get('type')}:\n" + "\n".join(errors)
    parsed = _EVENT_ADAPTER.validate_python(event, strict=True)
    if "response" in event:
        check_response(event["response"], spec=spec)
    return parsed


def check_ws_error(frame: dict[str, Any]) -> None:
    errors = _spec_errors(_WS_ERROR_VALIDATOR, frame)
    assert not errors, "Open Responses WebSocketErrorEvent:\n" + "\n".join(errors)
