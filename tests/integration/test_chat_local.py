"""OpenAI Chat Completions through Rhone on the local model, with the official openai SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.integration.conftest import API_KEY, OTHER_KEY

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def session_of(completion) -> str:
    return completion.model_extra["rhone"]["session_id"]


def test_plain_completion_answers_and_names_its_session(client: openai.OpenAI):
    raw = client.chat.completions.with_raw_response.create(
        model="local", messages=[{"role": "user", "content": "Hello, I am Ada."}]
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == (
        'You said: "Hello, I am Ada.". This is user turn 1; '
        'your first message was: "Hello, I am Ada.".'
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert session_of(completion).startswith("sess_")
    assert raw.headers["x-rhone-session-id"] == session_of(completion)


def test_streamed_completion_carries_the_session_first_and_usage_last(client: openai.OpenAI):
    chunks = list(
        client.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": "Stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].model_extra["rhone"]["session_id"].startswith("sess_")
    assert all("rhone" not in (c.model_extra or {}) for c in chunks[1:])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith('You said: "Stream me".')
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) > 5, "the local model streams word by word"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_stream_helper_accumulates_the_final_message(client: openai.OpenAI):
    with client.chat.completions.stream(
        model="local", messages=[{"role": "user", "content": "accumulate"}]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content.startswith('You said: "accumulate".')


def test_second_call_sends_only_its_new_message_and_the_answer_shows_the_first(
    client: openai.OpenAI,
):
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "My name is Ada."}]
    )
    second = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "What is my name?"}],
        extra_body={"rhone": {"session_id": session_of(first)}},
    )
    assert session_of(second) == session_of(first)
    assert second.choices[0].message.content == (
        'You said: "What is my name?". This is user turn 2; '
        'your first message was: "My name is Ada.".'
    )


def test_stateless_mode_uses_the_transcript_as_sent(client: openai.OpenAI):
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "stored turn"}]
    )
    answer = client.chat.completions.create(
        model="local",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "three"},
        ],
        extra_body={"rhone": {"session_id": session_of(first), "context_mode": "stateless"}},
    )
    assert answer.choices[0].message.content == (
        'You said: "three". This is user turn 3; your first message was: "one". '
        'System: "Be terse.".'
    )
    # The session now continues from that transcript, not from the stored turn before it.
    after = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "four"}],
        extra_body={"rhone": {"session_id": session_of(first)}},
    )
    assert 'This is user turn 4; your first message was: "one"' in after.choices[0].message.content


def test_tool_call_round_trip(client: openai.OpenAI):
    asked = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": 'Use get_weather with {"city": "Paris"}'}],
        tools=[WEATHER_TOOL],
    )
    choice = asked.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Paris"}'
    answered = client.chat.completions.create(
        model="local",
        messages=[{"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}],
        tools=[WEATHER_TOOL],
        extra_body={"rhone": {"session_id": session_of(asked)}},
    )
    assert answered.choices[0].message.content == "Tool get_weather returned: 18C and sunny"


def test_streamed_tool_call_deltas_accumulate(client: openai.OpenAI):
    with client.chat.completions.stream(
        model="local",
        messages=[{"role": "user", "content": 'call get_weather {"city": "Oslo"}'}],
        tools=[WEATHER_TOOL],
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Oslo"}')
    assert final.choices[0].finish_reason == "tool_calls"


def test_image_parts_and_response_format_are_accepted(client: openai.OpenAI):
    completion = client.chat.completions.create(
        model="local",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            }
        ],
        response_format={"type": "json_object"},
    )
    assert completion.choices[0].message.content == '{"answer":"describe","user_turns":1}'


def test_a_stream_asked_for_in_any_spelling_of_the_field_streams(base_url: str):
    """JSON lets a key be spelled with escapes. The facade picks the internal call for a whole
    answer before the translator reads the body (services/facade/answer_shape.py; that it
    sees the field is tests/unit/test_whole_answers.py): either way the client reads the
    stream it asked for, in the stream's content type, ending with [DONE]."""
    body = b'{"model":"local","\\u0073tream":true,"messages":[{"role":"user","content":"Hi"}]}'
    headers = {"authorization": f"Bearer {API_KEY}", "content-type": "application/json"}
    with httpx.stream(
        "POST", base_url + "/v1/chat/completions", content=body, headers=headers
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [line for line in reply.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 3
    # And "stream" only in a message's text is no stream.
    body = b'{"model":"local","messages":[{"role":"user","content":"a \\"stream\\": true"}]}'
    reply = httpx.post(base_url + "/v1/chat/completions", content=body, headers=headers)
    assert reply.status_code == 200 and reply.json()["object"] == "chat.completion"


def test_wrong_or_missing_key_is_401(base_url: str):
    bad = openai.OpenAI(base_url=base_url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="local", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "invalid_api_key"
    reply = httpx.post(base_url + "/v1/chat/completions", json={"model": "local", "messages": []})
    assert reply.status_code == 401
    assert reply.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "local", "messages": []}, "messages"),
        ({"model": "local", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "local", "messages": "hi"}, "messages"),
        ({"model": "local", "messages": [{"role": "user", "content": "x"}], "rhone": "s"}, "rhone"),
    ],
    ids=["empty_messages", "bad_role", "messages_not_a_list", "rhone_not_an_object"],
)
def test_bad_requests_are_400_naming_the_field(client: openai.OpenAI, body: dict, param: str):
    extra = {"rhone": body["rhone"]} if "rhone" in body else None
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=body["model"], messages=body["messages"], extra_body=extra
        )
    assert caught.value.param == param


def test_invalid_json_is_400(base_url: str):
    reply = httpx.post(
        base_url + "/v1/chat/completions",
        content=b"{not json",
        headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
    )
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["error"]["message"]


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="mystery-1", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_found"


def test_unknown_session_is_404(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"rhone": {"session_id": "sess_00000000000000000000000000000000"}},
        )
    assert caught.value.code == "session_not_found"


def test_another_tenants_session_is_404_not_403(client: openai.OpenAI, base_url: str):
    mine = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "private"}]
    )
    other = openai.OpenAI(base_url=base_url + "/v1", api_key=OTHER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": "let me in"}],
            extra_body={"rhone": {"session_id": session_of(mine)}},
        )


def test_models_list_includes_local(client: openai.OpenAI):
    assert "local" in [m.id for m in client.models.list()]


def test_health_and_readiness(base_url: str):
    assert httpx.get(base_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(base_url + "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
