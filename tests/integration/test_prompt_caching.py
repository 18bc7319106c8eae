"""Prompt caching on a session's stable prefix (docs/long-sessions.md), checked on what the fake
upstreams received: Anthropic gets Rhone's `cache_control` breakpoints (tools, instructions,
stored turns) unless the client placed its own, which are carried as sent; OpenAI gets a
`prompt_cache_key` derived from the session; cached input tokens appear in every surface's
usage. Driven through the official SDKs."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Text
from tests.integration.conftest import API_KEY

CLAUDE = "claude-sonnet-4-6"
EPHEMERAL = {"type": "ephemeral"}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": f"tool_{i}", "parameters": {"type": "object", "properties": {}}},
    }
    for i in range(2)
]


@pytest.fixture
def oai(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


@pytest.fixture
def claude(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0)


def chat(oai: openai.OpenAI, model: str, text: str, session: str = "", **more: Any) -> Any:
    messages: list[Any] = [{"role": "system", "content": "Be brief."}] if not session else []
    messages.append({"role": "user", "content": text})
    return oai.chat.completions.create(
        model=model,
        messages=messages,
        extra_body={"rhone": {"session_id": session}} if session else None,
        **more,
    )


def session_of(answer: Any) -> str:
    return str(answer.model_extra["rhone"]["session_id"])


def marks(blocks: Any) -> list[bool]:
    """Which blocks of a system prompt, tool list or message content carry cache_control."""
    if isinstance(blocks, str):
        return [False]
    return [block.get("cache_control") == EPHEMERAL for block in blocks]


def test_anthropic_gets_breakpoints_on_the_session_prefix(
    oai: openai.OpenAI, fake_anthropic: FakeAnthropic
):
    fake_anthropic.script(Text(chunks=("First answer.",)), Text(chunks=("Second answer.",)))
    first = chat(oai, CLAUDE, "Hello", tools=TOOLS)
    chat(oai, CLAUDE, "And then?", session=session_of(first), tools=TOOLS)
    body = fake_anthropic.last_request.body
    assert marks(body["system"]) == [True]
    assert marks(body["tools"]) == [False, True]
    user1, assistant1, user2 = body["messages"]
    assert marks(user1["content"]) == [False]
    # The end of the stored turns is the end of the stable prefix; the new input is not.
    assert marks(assistant1["content"]) == [True]
    assert marks(user2["content"]) == [False]
    # The breakpoints are Rhone's per call: nothing of them was recorded with the turns.
    chat(oai, CLAUDE, "Third.", session=session_of(first), tools=TOOLS)
    third = fake_anthropic.last_request.body["messages"]
    assert [any(marks(m["content"])) for m in third] == [False, False, False, True, False]


def test_an_anthropic_clients_own_breakpoints_are_carried_and_rhone_adds_none(
    claude: anthropic.Anthropic, fake_anthropic: FakeAnthropic
):
    fake_anthropic.script(Text(chunks=("Noted.",)))
    claude.messages.create(
        model=CLAUDE,
        max_tokens=100,
        system=[{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}],
        tools=[
            {
                "name": "lookup",
                "input_schema": {"type": "object", "properties": {}},
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "A long document.", "cache_control": EPHEMERAL},
                    {"type": "text", "text": "Question?"},
                ],
            }
        ],
    )
    body = fake_anthropic.last_request.body
    assert body["system"] == [
        {"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["tools"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert marks(body["messages"][0]["content"]) == [True, False]


def test_openai_gets_a_prompt_cache_key_per_session(oai: openai.OpenAI, fake_openai: FakeOpenAI):
    first = chat(oai, "gpt-4o-mini", "Hello")
    key = fake_openai.last_request.body["prompt_cache_key"]
    assert key.startswith("rhone-") and session_of(first) not in key
    chat(oai, "gpt-4o-mini", "Again", session=session_of(first))
    assert fake_openai.last_request.body["prompt_cache_key"] == key
    chat(oai, "gpt-4o-mini", "Another session")
    assert fake_openai.last_request.body["prompt_cache_key"] != key
    # A key the client sent itself wins.
    chat(oai, "gpt-4o-mini", "Mine", prompt_cache_key="client-key")
    assert fake_openai.last_request.body["prompt_cache_key"] == "client-key"


def test_cached_tokens_appear_in_every_surfaces_usage(
    base_url: str,
    oai: openai.OpenAI,
    claude: anthropic.Anthropic,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
):
    cached = Text(chunks=("ok",), usage=(100, 5), cached_tokens=60)
    fake_openai.script(cached)
    answer = chat(oai, "gpt-4o-mini", "Hi")
    assert answer.usage.prompt_tokens == 100
    assert answer.usage.prompt_tokens_details.cached_tokens == 60

    fake_anthropic.script(cached)
    response = oai.responses.create(model=CLAUDE, input="Hi")
    assert response.usage.input_tokens == 100
    assert response.usage.input_tokens_details.cached_tokens == 60

    fake_anthropic.script(cached)
    message = claude.messages.create(
        model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.usage.cache_read_input_tokens == 60
    assert message.usage.input_tokens == 40  # Anthropic's input_tokens excludes cache reads

    fake_gemini.script(cached)
    google = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url))
    generated = google.models.generate_content(model="gemini-2.5-flash", contents="Hi")
    assert generated.usage_metadata is not None
    assert generated.usage_metadata.cached_content_token_count == 60
