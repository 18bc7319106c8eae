"""The misbehaving upstream: the scenarios that prove the gateway's hardening (an upstream that
echoes its key, answers an HTML page, sends garbage on a 200 stream, or hangs before its
headers) do on the wire what they say, on every fake."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from tests.fakes import (
    FakeAnthropic,
    FakeGemini,
    FakeOpenAI,
    Garbage,
    Hang,
    HtmlError,
    RejectKey,
    Text,
)
from tests.fakes.conftest import ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY
from tests.fakes.scenarios import GARBAGE_EVENTS

DEADLINE_S = 3.0


def test_reject_key_echoes_the_bearer_credential_on_openai(
    openai_fake: FakeOpenAI, openai_client: openai.OpenAI
) -> None:
    openai_fake.script(RejectKey())

    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    assert f"Bearer {OPENAI_KEY}" in caught.value.message


def test_reject_key_echoes_the_api_key_on_anthropic(
    anthropic_fake: FakeAnthropic, anthropic_client: anthropic.Anthropic
) -> None:
    anthropic_fake.script(RejectKey(status=403))

    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        anthropic_client.messages.create(
            model="c", max_tokens=9, messages=[{"role": "user", "content": "hi"}]
        )

    assert ANTHROPIC_KEY in caught.value.message


def test_reject_key_echoes_the_goog_api_key_on_gemini(
    gemini_fake: FakeGemini, gemini_client: genai.Client
) -> None:
    gemini_fake.script(RejectKey())

    with pytest.raises(genai_errors.ClientError) as caught:
        gemini_client.models.generate_content(model="gemini-2.5-flash", contents="hi")

    assert caught.value.code == 401
    assert GEMINI_KEY in str(caught.value.message)


def test_html_error_is_a_text_html_page_with_internal_details(openai_fake: FakeOpenAI) -> None:
    openai_fake.script(HtmlError(502))

    answer = httpx.post(
        f"{openai_fake.base_url}/v1/chat/completions",
        json={"model": "m"},
        headers={"authorization": f"Bearer {OPENAI_KEY}"},
    )

    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html>" in answer.text and "Traceback" in answer.text and "10.42." in answer.text


@pytest.mark.parametrize("fixture", ["openai_fake", "anthropic_fake"])
def test_garbage_is_a_200_event_stream_of_data_that_is_not_json(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    fake: FakeOpenAI | FakeAnthropic = request.getfixturevalue(fixture)
    fake.script(Garbage())
    path, headers = (
        ("/v1/chat/completions", {"authorization": f"Bearer {OPENAI_KEY}"})
        if fixture == "openai_fake"
        else ("/v1/messages", {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"})
    )

    answer = httpx.post(f"{fake.base_url}{path}", json={"stream": True}, headers=headers)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.content == GARBAGE_EVENTS


def test_garbage_after_the_preamble_follows_the_valid_events(
    anthropic_fake: FakeAnthropic,
) -> None:
    anthropic_fake.script(Garbage(after_chunks=1, then=Text(["first", " never"])))
    headers = {"x-api-key": ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}

    body = httpx.post(
        f"{anthropic_fake.base_url}/v1/messages", json={"stream": True}, headers=headers
    ).content

    assert b"event: message_start" in body and b'"first"' in body
    assert b"never" not in body
    assert body.endswith(GARBAGE_EVENTS)


def test_garbage_on_a_non_stream_call_is_a_200_body_that_is_not_json(
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.script(Garbage(data=b"<html>not json</html>"))
    headers = {"authorization": f"Bearer {OPENAI_KEY}"}

    answer = httpx.post(
        f"{openai_fake.base_url}/v1/chat/completions", json={"model": "m"}, headers=headers
    )

    assert answer.status_code == 200
    assert answer.content == b"<html>not json</html>"


def test_hang_before_headers_sends_no_status_line_even_to_a_stream(
    openai_fake: FakeOpenAI,
) -> None:
    openai_fake.script(Hang(before_headers=True))
    headers = {"authorization": f"Bearer {OPENAI_KEY}"}

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{openai_fake.base_url}/v1/chat/completions",
            json={"stream": True},
            headers=headers,
            timeout=httpx.Timeout(5.0, read=0.3),
        )

    assert openai_fake.disconnected.wait(DEADLINE_S)
