"""OpenAI Responses through Rhone with the official openai SDK, on the local model."""

from __future__ import annotations

import openai
import pytest

from tests.integration.conftest import API_KEY

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def test_create_returns_a_response_with_output_text(client: openai.OpenAI):
    response = client.responses.create(
        model="local", input="Hello Responses", instructions="Be nice."
    )
    assert response.id.startswith("resp_") and response.status == "completed"
    assert response.output_text == (
        'You said: "Hello Responses". This is user turn 1; your first message was: '
        '"Hello Responses". System: "Be nice.".'
    )
    assert response.usage.output_tokens > 0
    assert response.model_extra["rhone"]["session_id"].startswith("sess_")


def test_stream_helper_gets_the_final_response(client: openai.OpenAI):
    with client.responses.stream(model="local", input="stream this") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 5
    assert final.output_text == "".join(deltas)
    assert final.output_text.startswith('You said: "stream this".')


def test_three_turns_chained_by_previous_response_id(client: openai.OpenAI):
    first = client.responses.create(model="local", input="one")
    with client.responses.stream(
        model="local", input="two", previous_response_id=first.id
    ) as stream:
        second = stream.get_final_response()
    third = client.responses.create(model="local", input="three", previous_response_id=second.id)
    assert third.output_text == (
        'You said: "three". This is user turn 3; your first message was: "one".'
    )
    assert third.previous_response_id == second.id


def test_previous_response_id_of_an_older_turn_branches(client: openai.OpenAI):
    first = client.responses.create(model="local", input="root")
    second = client.responses.create(
        model="local", input="main line", previous_response_id=first.id
    )
    client.responses.create(model="local", input="main line 2", previous_response_id=second.id)
    branch = client.responses.create(model="local", input="branch", previous_response_id=first.id)
    assert branch.output_text == (
        'You said: "branch". This is user turn 2; your first message was: "root".'
    )
    assert branch.model_extra["rhone"]["session_id"] != first.model_extra["rhone"]["session_id"]


def test_function_call_round_trip(client: openai.OpenAI):
    asked = client.responses.create(
        model="local", input='Use get_weather with {"city": "Nice"}', tools=TOOLS
    )
    (call,) = [item for item in asked.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.arguments == '{"city":"Nice"}'
    answered = client.responses.create(
        model="local",
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "warm"}],
        tools=TOOLS,
    )
    assert answered.output_text == "Tool get_weather returned: warm"


def test_retrieve_input_items_and_delete(client: openai.OpenAI):
    created = client.responses.create(model="local", input="keep me")
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    items = client.responses.input_items.list(created.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].content[0].text == "keep me"
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_keeps_nothing(client: openai.OpenAI):
    kept_nothing = client.responses.create(model="local", input="forget me", store=False)
    assert kept_nothing.output_text.startswith('You said: "forget me"')
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept_nothing.id)


def test_unknown_previous_response_id_is_404(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="local", input="x", previous_response_id="resp_nope")
    assert caught.value.param == "previous_response_id"


def test_bad_input_is_400(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="local", input=[{"type": "mystery"}])  # type: ignore[list-item]
    assert caught.value.param is not None and caught.value.param.startswith("input")
