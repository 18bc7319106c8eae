"""Behaviour every fake shares: the script, the record, and the transport scenarios (slow
first byte, a cut stream, a hang the client walks away from), each seen through the SDKs."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from anthropic.types import MessageParam
from google import genai
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import (
    CutMidStream,
    FakeAnthropic,
    FakeGemini,
    FakeOpenAI,
    FakeServer,
    Hang,
    SlowFirstByte,
    Text,
)
from tests.fakes.conftest import ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY

OPENAI_USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
ANTHROPIC_USER: list[MessageParam] = [{"role": "user", "content": "hi"}]
DEADLINE_S = 3.0
MODEL = "gemini-2.5-flash"


def _chat_text(client: openai.OpenAI) -> str | None:
    return (
        client.chat.completions.create(model="m", messages=OPENAI_USER).choices[0].message.content
    )


def test_script_is_first_in_first_out_then_default(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(Text(["one"]), Text(["two"]))

    answers = [_chat_text(openai_client) for _ in range(3)]

    assert answers == ["one", "two", "Hello"]
    assert openai_fake.pending == 0


def test_requests_are_recorded_with_method_path_query_headers_and_json_body(
    gemini_fake: FakeGemini,
) -> None:
    url = f"{gemini_fake.base_url}/v1beta/models/{MODEL}:generateContent?key={GEMINI_KEY}"

    httpx.post(url, json={"contents": [{"parts": [{"text": "hi"}]}]}, headers={"X-Trace": "t1"})

    (request,) = gemini_fake.requests
    assert (request.method, request.path) == ("POST", f"/v1beta/models/{MODEL}:generateContent")
    assert request.query == {"key": GEMINI_KEY}
    assert request.headers["x-trace"] == "t1"
    assert request.body == {"contents": [{"parts": [{"text": "hi"}]}]}
    assert orjson.loads(request.raw_body) == request.body


def test_reset_forgets_script_requests_and_disconnects(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    _chat_text(openai_client)
    openai_fake.script(Text(["unused"]))
    openai_fake.disconnected.set()

    openai_fake.reset()

    assert (openai_fake.requests, openai_fake.pending, openai_fake.disconnects) == ([], 0, 0)
    assert not openai_fake.disconnected.is_set()
    with pytest.raises(LookupError):
        _ = openai_fake.last_request


@pytest.mark.parametrize(
    ("fixture", "error_field"),
    [
        pytest.param("openai_fake", "message", id="openai-invalid-url"),
        pytest.param("anthropic_fake", "type", id="anthropic-not-found"),
        pytest.param("gemini_fake", "status", id="gemini-not-found"),
    ],
)
def test_unknown_path_is_recorded_and_gets_the_provider_404(
    request: pytest.FixtureRequest, fixture: str, error_field: str
) -> None:
    fake: FakeServer = request.getfixturevalue(fixture)

    raw = httpx.post(f"{fake.base_url}/v2/nowhere", json={"x": 1})

    assert raw.status_code == 404
    assert error_field in raw.json()["error"]
    assert (fake.last_request.path, fake.last_request.body) == ("/v2/nowhere", {"x": 1})


def test_wait_for_requests_returns_once_enough_arrived_or_times_out(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    _chat_text(openai_client)

    assert len(openai_fake.wait_for_requests(1, timeout=1.0)) == 1
    with pytest.raises(TimeoutError, match="1 of 2"):
        openai_fake.wait_for_requests(2, timeout=0.05)


def test_chunk_delay_paces_streamed_content(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(Text(["a", "b", "c"], chunk_delay_s=0.1))
    started = time.monotonic()

    with anthropic_client.messages.stream(
        model="c", max_tokens=9, messages=ANTHROPIC_USER
    ) as stream:
        assert stream.get_final_text() == "abc"

    assert time.monotonic() - started >= 0.3


def test_a_fake_restarts_on_a_fresh_port() -> None:
    fake = FakeOpenAI()
    with fake:
        first = fake.base_url
        assert httpx.get(f"{first}/v1/models").status_code == 200
    with fake:
        assert httpx.get(f"{fake.base_url}/v1/models").status_code == 200


def test_slow_first_byte_delays_the_answer(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(SlowFirstByte(0.3, then=Text(["late"])))

    started = time.monotonic()
    text = _chat_text(openai_client)

    assert text == "late"
    assert time.monotonic() - started >= 0.3
    assert openai_fake.disconnects == 0


def test_client_deadline_during_slow_first_byte_disconnects_upstream(
    anthropic_fake: FakeAnthropic,
) -> None:
    anthropic_fake.script(SlowFirstByte(30.0))
    client = anthropic.Anthropic(
        api_key=ANTHROPIC_KEY, base_url=anthropic_fake.base_url, max_retries=0, timeout=0.2
    )

    with pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model="c", max_tokens=9, messages=ANTHROPIC_USER)

    assert anthropic_fake.disconnected.wait(DEADLINE_S)
    assert anthropic_fake.disconnects == 1


# -- a stream cut mid-way: what each SDK shows its user ---------------------------------


def _openai_chat_deltas(fake: FakeServer) -> list[str | None]:
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{fake.base_url}/v1", max_retries=0)
    chunks = client.chat.completions.create(model="m", messages=OPENAI_USER, stream=True)
    return [c.choices[0].delta.content for c in chunks if c.choices]


def _openai_responses_final(fake: FakeServer) -> Any:
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{fake.base_url}/v1", max_retries=0)
    with client.responses.stream(model="m", input="hi") as stream:
        return stream.get_final_response()


def _anthropic_final(fake: FakeServer) -> Any:
    client = anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=fake.base_url, max_retries=0)
    with client.messages.stream(model="c", max_tokens=9, messages=ANTHROPIC_USER) as stream:
        message = stream.get_final_message()
    return ([getattr(b, "text", None) for b in message.content], message.stop_reason)


def _gemini_chunks(fake: FakeServer) -> Any:
    client = genai.Client(api_key=GEMINI_KEY, http_options={"base_url": fake.base_url})
    chunks = client.models.generate_content_stream(model=MODEL, contents="hi")
    return [(c.text, c.candidates[0].finish_reason) for c in chunks]  # type: ignore[index]


_PROVIDERS: dict[str, tuple[str, Callable[[FakeServer], Any]]] = {
    "openai-chat": ("openai_fake", _openai_chat_deltas),
    "openai-responses": ("openai_fake", _openai_responses_final),
    "anthropic": ("anthropic_fake", _anthropic_final),
    "gemini": ("gemini_fake", _gemini_chunks),
}


@pytest.mark.parametrize(
    ("surface", "raises"),
    [
        pytest.param("openai-chat", openai.APIConnectionError, id="openai-chat"),
        pytest.param("openai-responses", openai.APIConnectionError, id="openai-responses"),
        # These two SDKs let the transport error through unwrapped once the stream started.
        pytest.param("anthropic", httpx.RemoteProtocolError, id="anthropic"),
        pytest.param("gemini", httpx.RemoteProtocolError, id="gemini"),
    ],
)
def test_aborted_stream_raises_a_transport_error(
    request: pytest.FixtureRequest, surface: str, raises: type[Exception]
) -> None:
    fixture, consume = _PROVIDERS[surface]
    fake: FakeServer = request.getfixturevalue(fixture)
    fake.script(CutMidStream(after_chunks=1, abort=True))

    with pytest.raises((raises, _httpx2_protocol_error())):
        consume(fake)


@pytest.mark.parametrize(
    ("surface", "seen"),
    [
        pytest.param("openai-chat", ["", "Hel"], id="openai-chat-no-finish-no-done"),
        pytest.param("anthropic", (["Hel"], None), id="anthropic-no-stop-reason"),
        pytest.param("gemini", [("Hel", None)], id="gemini-no-finish-reason"),
    ],
)
def test_cleanly_truncated_stream_yields_an_incomplete_result(
    request: pytest.FixtureRequest, surface: str, seen: object
) -> None:
    fixture, consume = _PROVIDERS[surface]
    fake: FakeServer = request.getfixturevalue(fixture)
    fake.script(CutMidStream(after_chunks=1, abort=False))

    assert consume(fake) == seen


def test_cleanly_truncated_responses_stream_has_no_final_response(
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.script(CutMidStream(after_chunks=1, abort=False))

    with pytest.raises(RuntimeError, match=r"response\.completed"):
        _openai_responses_final(openai_fake)


def test_cut_non_stream_body_is_a_connection_error(openai_fake: FakeOpenAI) -> None:
    openai_fake.script(CutMidStream())
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{openai_fake.base_url}/v1", max_retries=0)

    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=OPENAI_USER)


def _httpx2_protocol_error() -> type[Exception]:
    """The SDKs ship a vendored httpx (``httpx2``); accept its error class when present."""
    try:
        import httpx2  # type: ignore[import-not-found]
    except ImportError:
        return httpx.RemoteProtocolError
    return httpx2.RemoteProtocolError  # type: ignore[no-any-return]


# -- a hang the client walks away from: cancellation reaches the upstream ---------------


def _leave_openai_chat(fake: FakeServer) -> None:
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{fake.base_url}/v1", max_retries=0)
    stream = client.chat.completions.create(model="m", messages=OPENAI_USER, stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()


def _leave_openai_responses(fake: FakeServer) -> None:
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=f"{fake.base_url}/v1", max_retries=0)
    with client.responses.stream(model="m", input="hi") as stream:
        assert next(iter(stream)).type == "response.created"


def _leave_anthropic(fake: FakeServer) -> None:
    client = anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=fake.base_url, max_retries=0)
    with client.messages.stream(model="c", max_tokens=9, messages=ANTHROPIC_USER) as stream:
        assert next(iter(stream)).type == "message_start"


def _leave_gemini(fake: FakeServer) -> None:
    client = genai.Client(api_key=GEMINI_KEY, http_options={"base_url": fake.base_url})
    chunks = client.models.generate_content_stream(model=MODEL, contents="hi")
    assert next(chunks).text in ("", None)
    assert isinstance(chunks, Generator)
    chunks.close()
    client.close()  # belt and braces: the pool goes too, whatever the SDK keeps alive


def _leave_openai_non_stream(fake: FakeServer) -> None:
    client = openai.OpenAI(
        api_key=OPENAI_KEY, base_url=f"{fake.base_url}/v1", max_retries=0, timeout=0.2
    )
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=OPENAI_USER)


@pytest.mark.parametrize(
    ("fixture", "leave"),
    [
        pytest.param("openai_fake", _leave_openai_chat, id="openai-chat-stream-closed"),
        pytest.param("openai_fake", _leave_openai_responses, id="openai-responses-closed"),
        pytest.param("anthropic_fake", _leave_anthropic, id="anthropic-stream-closed"),
        pytest.param("gemini_fake", _leave_gemini, id="gemini-client-closed"),
        pytest.param("openai_fake", _leave_openai_non_stream, id="non-stream-timeout"),
    ],
)
def test_client_leaving_a_hang_is_seen_by_the_fake(
    request: pytest.FixtureRequest, fixture: str, leave: Callable[[FakeServer], None]
) -> None:
    fake: FakeServer = request.getfixturevalue(fixture)
    fake.script(Hang(interval_s=0.05))

    leave(fake)

    assert fake.disconnected.wait(DEADLINE_S)
    assert fake.disconnects == 1


def test_completed_stream_is_not_counted_as_a_disconnect(
    anthropic_fake: FakeAnthropic,
) -> None:
    assert _anthropic_final(anthropic_fake) == (["Hello"], "end_turn")

    assert anthropic_fake.disconnects == 0
