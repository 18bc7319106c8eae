"""Any canonical answer, encoded by the Responses dialect (whole, streamed, or failing part way),
gives objects and events valid against the Open Responses schema and the SDK's strict types
(tests/contracts/responses_contract.py); the integration suite checks the same over the wire."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from rhone import canonical as c
from rhone.dialects.base import DecodedCall
from rhone.dialects.openai_responses import DIALECT, ResponsesStreamEncoder
from rhone.errors import make_failure
from rhone.v1 import generation_pb2 as gen
from tests.contracts.responses_contract import check_event, check_response
from tests.unit.test_dialect_openai_responses import canonical_responses


def _wire(value: object) -> object:
    return orjson.loads(orjson.dumps(value))


@settings(max_examples=100, deadline=None)
@given(canonical_responses(), st.integers(min_value=0, max_value=12), st.booleans())
def test_every_object_and_event_follows_the_contract(
    response: gen.GenerateResponse, cut: int, fail: bool
) -> None:
    check_response(_wire(DIALECT.encode_response(response, {"session_id": "s"})))  # type: ignore[arg-type]
    events = c.response_events(response)
    if fail:  # the provider fails after `cut` events: the stream ends with response.failed
        events = [
            *events[: min(cut, len(events) - 1)],
            gen.GenerationEvent(failure=make_failure(gen.ERROR_CODE_UNAVAILABLE, "gone")),
        ]
    encoder = ResponsesStreamEncoder(DecodedCall(request=gen.GenerateRequest(model="m")), {})
    emitted = [_wire(e) for event in events for e in encoder.events(event)]
    for event in emitted:
        check_event(event)  # type: ignore[arg-type]
    last = emitted[-1]
    assert isinstance(last, dict)
    assert last["type"] == ("response.failed" if fail else f"response.{last['response']['status']}")
