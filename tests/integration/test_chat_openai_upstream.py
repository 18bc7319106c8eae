"""The openai connector: Chat Completions through Rhone to a fake OpenAI upstream that the
openai SDK itself accepts (tests/fakes)."""

from __future__ import annotations

import threading
import time

import openai
import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import CutMidStream, Error, Hang, SlowFirstByte, Text, ToolCall
from tests.integration.conftest import API_KEY, UPSTREAM_OPENAI_KEY


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def test_plain_completion_through_the_openai_connector(client, fake_openai: FakeOpenAI):
    fake_openai.script(Text(chunks=["Bonjour", " Ada"], usage=(12, 3)))
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi"}], temperature=0.2
    )
    assert completion.choices[0].message.content == "Bonjour Ada"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    upstream = fake_openai.last_request
    assert upstream.headers["authorization"] == f"Bearer {UPSTREAM_OPENAI_KEY}"
    assert upstream.body["model"] == "gpt-4o-mini"
    assert upstream.body["temperature"] == 0.2
    assert upstream.body["messages"] == [{"role": "user", "content": "Say hi"}]


def test_openai_prefix_names_the_upstream_model(client, fake_openai: FakeOpenAI):
    fake_openai.script(Text(chunks=["ok"]))
    client.chat.completions.create(
        model="openai/my-finetune", messages=[{"role": "user", "content": "x"}]
    )
    assert fake_openai.last_request.body["model"] == "my-finetune"


def test_streamed_completion_through_the_openai_connector(client, fake_openai: FakeOpenAI):
    fake_openai.script(Text(chunks=["one", " two", " three"], usage=(5, 3)))
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert chunks[-1].usage.total_tokens == 8


def test_tool_call_round_trip_through_the_openai_connector(client, fake_openai: FakeOpenAI):
    fake_openai.script(
        ToolCall("get_weather", ['{"ci', 'ty": "Pa', 'ris"}'], call_id="call_abc"),
        Text(chunks=["It is sunny in Paris."]),
    )
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "weather?"}], tools=tools
    ) as stream:
        asked = stream.get_final_completion()
    (call,) = asked.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_abc",
        "get_weather",
        '{"city": "Paris"}',
    )
    answered = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "tool", "tool_call_id": "call_abc", "content": "sunny"}],
        tools=tools,
        extra_body={"rhone": {"session_id": asked.model_extra["rhone"]["session_id"]}},
    )
    assert answered.choices[0].message.content == "It is sunny in Paris."
    replayed = fake_openai.last_request.body["messages"]
    assert [m["role"] for m in replayed] == ["user", "assistant", "tool"]
    assert replayed[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'


def test_upstream_rate_limit_is_retried_before_the_first_byte(client, fake_openai: FakeOpenAI):
    fake_openai.script(Error(429, retry_after=0.05), Text(chunks=["after retry"]))
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.content == "after retry"
    assert len(fake_openai.requests) == 2


def test_upstream_bad_request_reaches_the_client_as_400(client, fake_openai: FakeOpenAI):
    fake_openai.script(Error(400, message="max_tokens is too large"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert "max_tokens is too large" in caught.value.message
    assert len(fake_openai.requests) == 1


def test_a_stream_cut_mid_way_is_an_error_and_records_nothing(client, fake_openai: FakeOpenAI):
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "start"}]
    )
    session = first.model_extra["rhone"]["session_id"]
    fake_openai.script(CutMidStream(after_chunks=1, then=Text(chunks=["partial", " never"])))
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "this turn fails"}],
                stream=True,
                extra_body={"rhone": {"session_id": session}},
            )
        )
    after = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "next"}],
        extra_body={"rhone": {"session_id": session}},
    )
    # The failed turn left nothing behind: this is the second user turn, not the third.
    assert "This is user turn 2" in after.choices[0].message.content


def test_client_disconnect_cancels_the_upstream_call(client, fake_openai: FakeOpenAI):
    fake_openai.script(Hang())
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hang"}], stream=True
    )
    next(iter(stream))  # the stream is open end to end
    stream.close()
    assert fake_openai.disconnected.wait(10), "the upstream never saw the client leave"


def test_a_second_call_on_a_busy_session_is_409_session_busy(client, fake_openai: FakeOpenAI):
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "a"}]
    )
    session = {"rhone": {"session_id": first.model_extra["rhone"]["session_id"]}}
    fake_openai.script(SlowFirstByte(1.0, then=Text(chunks=["slow", " answer"])))
    results: list[str] = []

    def slow_call() -> None:
        reply = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "slow"}], extra_body=session
        )
        results.append(reply.choices[0].message.content or "")

    worker = threading.Thread(target=slow_call)
    worker.start()
    fake_openai.wait_for_requests(1)
    with pytest.raises(openai.ConflictError) as caught:
        client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "racing"}], extra_body=session
        )
    assert caught.value.code == "session_busy"
    worker.join(10)
    assert results == ["slow answer"]
    deadline = time.monotonic() + 5
    while True:  # the slow turn was recorded; the session is free again
        try:
            reply = client.chat.completions.create(
                model="local", messages=[{"role": "user", "content": "c"}], extra_body=session
            )
            break
        except openai.ConflictError:
            assert time.monotonic() < deadline
    assert "This is user turn 3" in reply.choices[0].message.content


def test_a_whole_answer_cut_mid_body_is_a_clean_error_and_records_nothing(
    client, fake_openai: FakeOpenAI
):
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "start"}]
    )
    session = {"rhone": {"session_id": first.model_extra["rhone"]["session_id"]}}
    # Every attempt is cut (a cut before the first byte reached the client is retried).
    cut = CutMidStream(then=Text(chunks=["half", " a body"]), abort=False)
    fake_openai.script(cut, cut, cut)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "cut"}], extra_body=session
        )
    assert caught.value.status_code == 502
    assert len(fake_openai.requests) == 3
    after = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "next"}], extra_body=session
    )
    assert "This is user turn 2" in after.choices[0].message.content
