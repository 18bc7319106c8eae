"""FakeAnthropic proved with the official anthropic SDK (Messages, streaming, count_tokens)."""

from __future__ import annotations

import anthropic
import httpx
import orjson
import pytest
from anthropic.types import MessageParam

from tests.fakes import Error, FakeAnthropic, StreamError, Text, Thinking, ToolCall
from tests.fakes.conftest import ANTHROPIC_KEY

USER: list[MessageParam] = [{"role": "user", "content": "hi"}]
WEATHER = ToolCall("get_weather", ["", '{"locati', 'on": "Paris"}'], call_id="toolu_w1")


def _create(client: anthropic.Anthropic) -> anthropic.types.Message:
    return client.messages.create(model="claude-fake-1", max_tokens=64, messages=USER)


def test_create_returns_message_with_text_usage_and_request_id(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(Text(["Hel", "lo"], usage=(21, 2)))

    message = _create(anthropic_client)

    assert message.id.startswith("msg_")
    assert message.model == "claude-fake-1"
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "Hello")]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (21, 2)
    assert message._request_id is not None and message._request_id.startswith("req_")
    request = anthropic_fake.last_request
    assert request.path == "/v1/messages"
    # This SDK generation sends the key as a Bearer token; older ones use x-api-key.
    sent_key = request.headers.get("x-api-key") or request.headers["authorization"][7:]
    assert sent_key == ANTHROPIC_KEY
    assert request.headers["anthropic-version"]


def test_stream_final_message_accumulates_text(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(Text(["Hel", "lo", "!"], usage=(5, 3)))

    with anthropic_client.messages.stream(model="c", max_tokens=64, messages=USER) as stream:
        text = stream.get_final_text()
        final = stream.get_final_message()

    assert text == "Hello!"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (5, 3)


def test_stream_tool_use_input_is_parsed_from_json_fragments(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(Text(["I'll check."], tool_calls=[WEATHER]))

    with anthropic_client.messages.stream(model="c", max_tokens=64, messages=USER) as stream:
        final = stream.get_final_message()

    text, tool_use = final.content
    assert text.type == "text" and text.text == "I'll check."
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == (
        "toolu_w1",
        "get_weather",
        {"location": "Paris"},
    )
    assert final.stop_reason == "tool_use"


def test_stream_thinking_keeps_signature_intact(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    signature = "EqQBCkYIBxgCKkBfake+/=="
    anthropic_fake.script(Text(["42"], thinking=Thinking(["Six ", "times seven."], signature)))

    with anthropic_client.messages.stream(model="c", max_tokens=2048, messages=USER) as stream:
        final = stream.get_final_message()

    thinking, text = final.content
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == ("Six times seven.", signature)
    assert text.type == "text" and text.text == "42"


def test_non_stream_thinking_and_tool_use_blocks(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(Text([], tool_calls=[WEATHER], thinking=Thinking(["hm"], "sig")))

    message = _create(anthropic_client)

    assert [block.type for block in message.content] == ["thinking", "tool_use"]
    assert message.content[0].signature == "sig"  # type: ignore[union-attr]
    assert message.content[1].input == {"location": "Paris"}  # type: ignore[union-attr]


def test_stream_wire_event_names_equal_types_and_ping_follows_message_start(
    anthropic_fake: FakeAnthropic,
) -> None:
    headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "c", "max_tokens": 9, "messages": USER, "stream": True}

    raw = httpx.post(f"{anthropic_fake.base_url}/v1/messages", json=body, headers=headers)

    names = []
    for frame in raw.text.strip().split("\n\n"):
        event_line, data_line = frame.split("\n")
        name = event_line.removeprefix("event: ")
        assert orjson.loads(data_line.removeprefix("data: "))["type"] == name
        names.append(name)
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-2:] == ["message_delta", "message_stop"]


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        pytest.param(529, anthropic.OverloadedError, "overloaded_error", id="529-overloaded"),
        pytest.param(500, anthropic.InternalServerError, "api_error", id="500-api-error"),
        pytest.param(429, anthropic.RateLimitError, "rate_limit_error", id="429-rate-limit"),
        pytest.param(404, anthropic.NotFoundError, "not_found_error", id="404-not-found"),
    ],
)
def test_error_status_maps_to_the_sdk_exception(
    anthropic_fake: FakeAnthropic,
    anthropic_client: anthropic.Anthropic,
    status: int,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    anthropic_fake.script(Error(status))

    with pytest.raises(exception) as caught:
        _create(anthropic_client)

    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert body["request_id"] == caught.value.request_id


def test_overloaded_529_is_an_internal_server_error(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(Error(529))

    with pytest.raises(anthropic.InternalServerError) as caught:
        _create(anthropic_client)

    assert caught.value.status_code == 529


def test_429_with_retry_after_is_retried_by_the_sdk(anthropic_fake: FakeAnthropic) -> None:
    anthropic_fake.script(Error(429, retry_after=0.01), Text(["ok"]))
    client = anthropic.Anthropic(
        api_key=ANTHROPIC_KEY, base_url=anthropic_fake.base_url, max_retries=1
    )

    message = _create(client)

    assert message.content[0].text == "ok"  # type: ignore[union-attr]
    assert len(anthropic_fake.requests) == 2
    assert anthropic_fake.requests[0].headers["x-stainless-retry-count"] == "0"


def test_stream_error_event_raises_api_status_error(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(StreamError(after_chunks=1, status=529))

    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_client.messages.stream(model="c", max_tokens=9, messages=USER) as stream,
    ):
        stream.get_final_message()

    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        pytest.param(
            {"anthropic-version": "2023-06-01"}, 401, "x-api-key header is required", id="no-key"
        ),
        pytest.param(
            {"x-api-key": "wrong", "anthropic-version": "2023-06-01"},
            401,
            "invalid x-api-key",
            id="wrong-key",
        ),
        pytest.param(
            {"x-api-key": ANTHROPIC_KEY},
            400,
            "anthropic-version: header is required",
            id="no-version",
        ),
    ],
)
def test_missing_or_wrong_auth_headers_are_rejected(
    anthropic_fake: FakeAnthropic, headers: dict[str, str], status: int, message: str
) -> None:
    body = {"model": "c", "max_tokens": 9, "messages": USER}

    raw = httpx.post(f"{anthropic_fake.base_url}/v1/messages", json=body, headers=headers)

    assert raw.status_code == status
    assert raw.json()["error"]["message"] == message
    assert raw.headers["request-id"] == raw.json()["request_id"]


def test_count_tokens(anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic) -> None:
    anthropic_fake.token_count = 37

    counted = anthropic_client.messages.count_tokens(model="c", messages=USER)

    assert counted.input_tokens == 37
    assert anthropic_fake.last_request.path == "/v1/messages/count_tokens"
