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


def test_store_false_responses_chain_on_their_socket_and_only_there(client: openai.OpenAI):
    """OpenAI's WebSocket mode keeps a connection's responses in memory: `store: false` calls
    chain by previous_response_id on the socket; another socket, and HTTP, cannot see them."""
    with client.responses.connect() as connection:
        _, first = run_until_done(connection, model="local", input="My name is Ada.", store=False)
        _, second = run_until_done(
            connection,
            model="local",
            input="I live in Turin.",
            store=False,
            previous_response_id=first.response.id,
        )
        _, third = run_until_done(
            connection,
            model="local",
            input="Who am I?",
            store=False,
            previous_response_id=second.response.id,
        )
        assert third.type == "response.completed"
        assert third.response.output_text == (
            'You said: "Who am I?". This is user turn 3; your first message was: "My name is Ada.".'
        )
        assert third.response.store is False

    with client.responses.connect() as other:
        _, error = run_until_done(
            other, model="local", input="x", store=False, previous_response_id=third.response.id
        )
        assert error.type == "error"
        assert error.error.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):  # never written to the database
        client.responses.retrieve(third.response.id)


def test_a_failed_continuation_evicts_the_response_it_continued(client: openai.OpenAI):
    with client.responses.connect() as connection:
        _, first = run_until_done(connection, model="local", input="Keep me.", store=False)
        kept = first.response.id
        _, failed = run_until_done(
            connection,
            model="no-such-model",
            input="x",
            store=False,
            previous_response_id=kept,
        )
        assert failed.type == "error" and failed.error.code == "model_not_found"
        _, error = run_until_done(
            connection, model="local", input="again", store=False, previous_response_id=kept
        )
        assert error.type == "error"
        assert error.error.code == "previous_response_not_found"


def test_a_stored_call_may_continue_a_kept_response(client: openai.OpenAI):
    """`store: true` after `store: false` on one socket: the stored response holds the whole
    transcript (a snapshot), so it continues anywhere, over HTTP too."""
    with client.responses.connect() as connection:
        _, first = run_until_done(connection, model="local", input="Remember 42.", store=False)
        _, stored = run_until_done(
            connection, model="local", input="Stored now.", previous_response_id=first.response.id
        )
        assert stored.type == "response.completed"
    later = client.responses.create(
        model="local", input="And now?", previous_response_id=stored.response.id
    )
    assert later.output_text == (
        'You said: "And now?". This is user turn 3; your first message was: "Remember 42.".'
    )
