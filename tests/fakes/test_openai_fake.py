"""FakeOpenAI proved with the official openai SDK (Chat Completions, Responses, models)."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import (
    Error,
    FakeOpenAI,
    StreamError,
    Text,
    Thinking,
    ToolCall,
)
from tests.fakes.conftest import OPENAI_KEY

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
WEATHER = ToolCall("get_weather", ['{"city"', ': "Paris"}'], call_id="call_w1")


def test_chat_create_returns_scripted_text_and_usage(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(Text(["Hel", "lo!"], usage=(14, 3)))

    completion = openai_client.chat.completions.create(model="gpt-4o-mini", messages=USER)

    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "Hello!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (14, 3)
    assert completion._request_id is not None and completion._request_id.startswith("req_")
    request = openai_fake.last_request
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body["messages"] == USER


def test_chat_stream_wire_has_role_chunk_usage_chunk_and_done(openai_fake: FakeOpenAI) -> None:
    openai_fake.script(Text(["Hel", "lo"], usage=(14, 2)))
    body = {"model": "m", "messages": USER, "stream": True}
    body["stream_options"] = {"include_usage": True}
    headers = {"authorization": f"Bearer {OPENAI_KEY}"}

    raw = httpx.post(f"{openai_fake.base_url}/v1/chat/completions", json=body, headers=headers)

    frames = raw.content.decode().split("\n\n")
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert frames[-2:] == ["data: [DONE]", ""]
    assert not any(frame.startswith("event:") for frame in frames)
    chunks = [orjson.loads(frame.removeprefix("data: ")) for frame in frames[:-2]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, None, "stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 16
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert len({chunk["id"] for chunk in chunks}) == 1


def test_chat_stream_helper_accumulates_text_and_tool_calls(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    second = ToolCall("get_time", ["{}"], call_id="call_t2")
    openai_fake.script(Text(["Checking"], tool_calls=[WEATHER, second]))

    with openai_client.chat.completions.stream(model="m", messages=USER) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()

    message = final.choices[0].message
    assert message.content == "Checking"
    assert final.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls]
    assert calls == [
        ("call_w1", "get_weather", '{"city": "Paris"}'),
        ("call_t2", "get_time", "{}"),
    ]


def test_chat_stream_tool_call_first_delta_carries_id_name_and_empty_arguments(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(WEATHER)

    chunks = list(openai_client.chat.completions.create(model="m", messages=USER, stream=True))

    calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    first = calls[0][0]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert (first.index, first.id, first.type) == (0, "call_w1", "function")
    assert first.function is not None
    assert (first.function.name, first.function.arguments) == ("get_weather", "")
    fragments = [delta[0].function.arguments for delta in calls[1:] if delta[0].function]
    assert fragments == ['{"city"', ': "Paris"}']
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_429_with_retry_after_is_retried_by_the_sdk(openai_fake: FakeOpenAI) -> None:
    openai_fake.script(Error(429, retry_after=0.01), Text(["after retry"]))
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{openai_fake.base_url}/v1", max_retries=1)

    started = time.monotonic()
    completion = client.chat.completions.create(model="m", messages=USER)

    assert completion.choices[0].message.content == "after retry"
    assert len(openai_fake.requests) == 2
    assert openai_fake.requests[1].headers["x-stainless-retry-count"] == "1"
    assert time.monotonic() - started < 0.4  # the 10 ms retry-after, not the 0.5 s backoff


@pytest.mark.parametrize(
    ("status", "exception", "code"),
    [
        pytest.param(500, openai.InternalServerError, None, id="500-server-error"),
        pytest.param(404, openai.NotFoundError, "model_not_found", id="404-model"),
        pytest.param(429, openai.RateLimitError, "rate_limit_exceeded", id="429-no-retry"),
    ],
)
def test_chat_error_status_maps_to_the_sdk_exception(
    openai_fake: FakeOpenAI,
    openai_client: openai.OpenAI,
    status: int,
    exception: type[openai.APIStatusError],
    code: str | None,
) -> None:
    openai_fake.script(Error(status))

    with pytest.raises(exception) as caught:
        openai_client.chat.completions.create(model="m", messages=USER)

    assert caught.value.status_code == status
    assert caught.value.code == code
    assert caught.value.request_id is not None


def test_wrong_api_key_is_rejected_with_invalid_api_key(openai_fake: FakeOpenAI) -> None:
    client = openai.OpenAI(api_key="sk-wrong", base_url=f"{openai_fake.base_url}/v1")

    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="m", messages=USER)

    assert caught.value.code == "invalid_api_key"
    assert openai_fake.pending == 0  # auth failures consume no scenario


def test_chat_stream_error_after_first_chunk_raises_api_error(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(StreamError(after_chunks=1, status=500, message="boom"))
    seen: list[str | None] = []

    with pytest.raises(openai.APIError, match="boom"):
        for chunk in openai_client.chat.completions.create(model="m", messages=USER, stream=True):
            seen.append(chunk.choices[0].delta.content)

    assert seen == ["", "Hel"]


def test_chat_max_tokens_finishes_with_length(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(Text(["cut"], stop="max_tokens"))

    completion = openai_client.chat.completions.create(model="m", messages=USER)

    assert completion.choices[0].finish_reason == "length"


def test_responses_create_returns_message_and_usage(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(Text(["Hi ", "there"], usage=(9, 2)))

    response = openai_client.responses.create(model="gpt-4o", input="hi", instructions="be kind")

    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Hi there"
    assert response.instructions == "be kind"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 2)
    assert openai_fake.last_request.path == "/v1/responses"


def test_responses_stream_final_response_has_reasoning_message_and_call(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    thinking = Thinking(["Weather ", "needed."], signature="enc-sig-1")
    openai_fake.script(Text(["Let me check."], tool_calls=[WEATHER], thinking=thinking))

    with openai_client.responses.stream(model="gpt-4o", input="weather?") as stream:
        events = list(stream)
        final = stream.get_final_response()

    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    reasoning, message, call = final.output
    assert reasoning.type == "reasoning"
    assert [s.text for s in reasoning.summary] == ["Weather needed."]
    assert reasoning.encrypted_content == "enc-sig-1"
    assert message.type == "message" and final.output_text == "Let me check."
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "call_w1",
        "get_weather",
        WEATHER.arguments_json,
    )


def test_responses_stream_wire_event_names_equal_types(openai_fake: FakeOpenAI) -> None:
    headers = {"authorization": f"Bearer {OPENAI_KEY}"}
    body = {"model": "m", "input": "hi", "stream": True}

    raw = httpx.post(f"{openai_fake.base_url}/v1/responses", json=body, headers=headers)

    for frame in raw.text.strip().split("\n\n"):
        event_line, data_line = frame.split("\n")
        assert event_line.removeprefix("event: ") == orjson.loads(data_line[6:])["type"]


def test_responses_max_tokens_is_incomplete(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(Text(["cut"], stop="max_tokens"))

    response = openai_client.responses.create(model="m", input="hi")

    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_responses_stream_error_raises_api_error(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(StreamError(after_chunks=1, message="upstream fell over"))

    with (
        pytest.raises(openai.APIError, match="upstream fell over"),
        openai_client.responses.stream(model="m", input="hi") as stream,
    ):
        stream.get_final_response()


def test_models_list_and_retrieve(openai_fake: FakeOpenAI, openai_client: openai.OpenAI) -> None:
    assert [m.id for m in openai_client.models.list()] == list(openai_fake.models)
    assert openai_client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("gpt-nope")
