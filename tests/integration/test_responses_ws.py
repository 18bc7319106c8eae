"""OpenAI's Responses WebSocket mode with the official SDK's `responses.connect()`."""

from __future__ import annotations

import openai
import pytest

from tests.integration.conftest import API_KEY

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def run_until_done(connection, **create) -> tuple[list, object]:
    connection.response.create(**create)
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.completed", "response.failed", "response.incomplete", "error"):
            return events, event
    raise AssertionError("the socket closed before the response ended")


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def test_three_turn_tool_conversation_over_one_socket(client: openai.OpenAI):
    with client.responses.connect() as connection:
        events, done = run_until_done(
            connection, model="local", input='Use get_weather with {"city": "Turin"}', tools=TOOLS
        )
        assert events[0].type == "response.created"
        assert [e.sequence_number for e in events] == list(range(len(events)))
        (call,) = [i for i in done.response.output if i.type == "function_call"]
        assert call.name == "get_weather" and call.arguments == '{"city":"Turin"}'

        _, done = run_until_done(
            connection,
            model="local",
            previous_response_id=done.response.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
            tools=TOOLS,
        )
        assert done.response.output_text == "Tool get_weather returned: sunny"

        _, done = run_until_done(
            connection, model="local", previous_response_id=done.response.id, input="thanks"
        )
        assert done.type == "response.completed"
        assert done.response.output_text == (
            # The tool result is not a user turn: "thanks" is the second.
            'You said: "thanks". This is user turn 2; your first message was: '
            '"Use get_weather with {"city": "Turin"}".'
        )


def test_stream_ids_are_echoed_and_errors_are_nested(client: openai.OpenAI):
    with client.responses.connect() as connection:
        connection.send(
            {"type": "response.create", "model": "local", "input": "lane", "stream_id": "a"}
        )
        events = []
        for event in connection:
            events.append(event)
            if event.type == "response.completed":
                break
        assert {getattr(e, "stream_id", None) for e in events} == {"a"}
        connection.send(
            {
                "type": "response.create",
                "model": "local",
                "input": "x",
                "previous_response_id": "resp_unknown",
            }
        )
        error = next(iter(connection))
        assert error.type == "error"
        assert error.status == 404
        assert error.error.code == "previous_response_not_found"


def test_unauthenticated_upgrade_is_refused(base_url: str):
    bad = openai.OpenAI(base_url=base_url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(Exception) as caught, bad.responses.connect() as connection:
        connection.response.create(model="local", input="x")
    assert "401" in str(caught.value)
