"""Anthropic Messages through Rhone with the official anthropic SDK, on the local model."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.integration.conftest import API_KEY

WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0)


def session_of(message) -> str:
    return message.model_extra["rhone"]["session_id"]


def test_create_message_on_local(client: anthropic.Anthropic):
    message = client.messages.create(
        model="local",
        max_tokens=200,
        system="Be kind.",
        messages=[{"role": "user", "content": "Hello Claude-shaped world"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].text == (
        'You said: "Hello Claude-shaped world". This is user turn 1; your first message was: '
        '"Hello Claude-shaped world". System: "Be kind.".'
    )
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    assert session_of(message).startswith("sess_")


def test_stream_accumulator_yields_the_final_message(client: anthropic.Anthropic):
    with client.messages.stream(
        model="local", max_tokens=200, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(texts) > 5
    assert final.content[0].text == "".join(texts)
    assert final.content[0].text.startswith('You said: "stream it".')
    assert final.stop_reason == "end_turn"


def test_thinking_streams_with_its_signature(client: anthropic.Anthropic):
    with client.messages.stream(
        model="local",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "think first"}],
    ) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "Counting user turns: 1."
    assert thinking.signature.startswith("local-")
    assert text.type == "text"


def test_tool_use_round_trip_with_only_new_messages(client: anthropic.Anthropic):
    with client.messages.stream(
        model="local",
        max_tokens=300,
        tools=[WEATHER],
        messages=[{"role": "user", "content": 'Use get_weather with {"city": "Lyon"}'}],
    ) as stream:
        asked = stream.get_final_message()
    assert asked.stop_reason == "tool_use"
    (tool_use,) = [b for b in asked.content if b.type == "tool_use"]
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "Lyon"}
    answered = client.messages.create(
        model="local",
        max_tokens=300,
        tools=[WEATHER],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_use.id, "content": "21C, clear"}
                ],
            }
        ],
        extra_body={"rhone": {"session_id": session_of(asked)}},
    )
    assert answered.content[0].text == "Tool get_weather returned: 21C, clear"


def test_continuity_across_surfaces(client: anthropic.Anthropic, base_url: str):
    import openai

    first = client.messages.create(
        model="local",
        max_tokens=100,
        messages=[{"role": "user", "content": "I came via Anthropic"}],
    )
    chat = openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)
    second = chat.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "and now via OpenAI"}],
        extra_body={"rhone": {"session_id": session_of(first)}},
    )
    assert second.choices[0].message.content == (
        'You said: "and now via OpenAI". This is user turn 2; '
        'your first message was: "I came via Anthropic".'
    )


def test_count_tokens(client: anthropic.Anthropic):
    counted = client.messages.count_tokens(
        model="local", messages=[{"role": "user", "content": "one two three four"}]
    )
    assert counted.input_tokens == 4


def test_missing_anthropic_version_is_400(base_url: str):
    reply = httpx.post(
        base_url + "/v1/messages",
        json={"model": "local", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": API_KEY},
    )
    assert reply.status_code == 400
    body = reply.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in body["error"]["message"]


def test_errors_in_anthropic_shape(client: anthropic.Anthropic, base_url: str):
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model="local", max_tokens=10, messages=[{"role": "robot", "content": "x"}]
        )  # type: ignore[misc]
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model="nope-1", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["error"]["type"] == "not_found_error"
    wrong = anthropic.Anthropic(base_url=base_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(
            model="local", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )


def test_models_in_anthropic_shape(client: anthropic.Anthropic):
    models = client.models.list()
    assert "local" in [m.id for m in models.data]
    assert client.models.retrieve("local").type == "model"
