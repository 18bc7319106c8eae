"""Property: for any reply, what an SDK accumulates from a fake's stream equals the fake's
non-stream answer. Two hand-written encodings agreeing through the official parsers is the
evidence that each is right."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import openai
import orjson
from anthropic.types import MessageParam
from google import genai
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI, Text, Thinking, ToolCall

OPENAI_USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
ANTHROPIC_USER: list[MessageParam] = [{"role": "user", "content": "hi"}]
_words = st.text(min_size=1, max_size=6)  # any UTF-8 text, no lone surrogates
_names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)
_signatures = st.binary(min_size=1, max_size=24).map(lambda raw: base64.b64encode(raw).decode())
_values = st.one_of(st.integers(-(2**31), 2**31), st.booleans(), st.none(), _words)


@st.composite
def _tool_calls(draw: st.DrawFn) -> ToolCall:
    arguments = orjson.dumps(draw(st.dictionaries(_names, _values, max_size=3))).decode()
    cuts = sorted(draw(st.lists(st.integers(0, len(arguments)), max_size=3)))
    fragments = [arguments[a:b] for a, b in zip([0, *cuts], [*cuts, len(arguments)], strict=True)]
    return ToolCall(draw(_names), fragments, call_id=f"call_{draw(_names)}")


replies = st.builds(
    Text,
    chunks=st.lists(_words, max_size=4),
    usage=st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)),
    tool_calls=st.lists(_tool_calls(), max_size=2, unique_by=lambda call: call.call_id),
    # Signatures are base64 on every provider (Gemini's SDK decodes them to bytes).
    thinking=st.none() | st.builds(Thinking, st.lists(_words, min_size=1, max_size=3), _signatures),
    stop=st.sampled_from(["stop", "max_tokens"]),
)


@settings(max_examples=50, deadline=None)
# The SDK's stream helper raises LengthFinishReasonError on finish_reason "length" by design.
@given(reply=replies.filter(lambda reply: reply.stop == "stop"))
def test_openai_chat_stream_accumulates_to_the_non_stream_message(
    openai_server: FakeOpenAI, openai_client: openai.OpenAI, reply: Text
) -> None:
    client = openai_client
    openai_server.reset()
    openai_server.script(reply, reply)

    whole = client.chat.completions.create(model="m", messages=OPENAI_USER).choices[0]
    with client.chat.completions.stream(model="m", messages=OPENAI_USER) as stream:
        streamed = stream.get_final_completion().choices[0]

    def seen(choice: Any) -> Any:
        calls = [
            (c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []
        ]
        return (choice.message.content or "", calls, choice.finish_reason)

    assert seen(streamed) == seen(whole)


@settings(max_examples=50, deadline=None)
@given(reply=replies)
def test_openai_responses_stream_final_response_equals_create(
    openai_server: FakeOpenAI, openai_client: openai.OpenAI, reply: Text
) -> None:
    client = openai_client
    openai_server.reset()
    openai_server.script(reply)
    whole = client.responses.create(model="m", input="hi")
    openai_server.reset()  # same ids again
    openai_server.script(reply)

    with client.responses.stream(model="m", input="hi") as stream:
        # get_final_response() wants response.completed; a max_tokens reply ends "incomplete".
        streamed = list(stream)[-1].response  # type: ignore[union-attr]

    def seen(response: Any) -> Any:
        items = [item.to_dict(exclude_none=True) for item in response.output]
        return items, response.status, response.incomplete_details, response.usage

    assert seen(streamed) == seen(whole)


@settings(max_examples=50, deadline=None)
@given(reply=replies)
def test_anthropic_stream_final_message_equals_create(
    anthropic_server: FakeAnthropic, anthropic_client: anthropic.Anthropic, reply: Text
) -> None:
    client = anthropic_client
    anthropic_server.reset()
    anthropic_server.script(reply)
    whole = client.messages.create(model="c", max_tokens=9, messages=ANTHROPIC_USER)
    anthropic_server.reset()
    anthropic_server.script(reply)

    with client.messages.stream(model="c", max_tokens=9, messages=ANTHROPIC_USER) as stream:
        streamed = stream.get_final_message()

    blocks = [b.to_dict(exclude_none=True) for b in streamed.content]
    assert [{k: v for k, v in b.items() if k != "parsed_output"} for b in blocks] == [
        b.to_dict(exclude_none=True) for b in whole.content
    ]
    assert (streamed.stop_reason, streamed.usage) == (whole.stop_reason, whole.usage)


@settings(max_examples=50, deadline=None)
@given(reply=replies)
def test_gemini_stream_chunks_add_up_to_generate_content(
    gemini_server: FakeGemini, gemini_client: genai.Client, reply: Text
) -> None:
    client = gemini_client
    gemini_server.reset()
    gemini_server.script(reply, reply)

    whole = client.models.generate_content(model="g", contents="hi")
    chunks = list(client.models.generate_content_stream(model="g", contents="hi"))

    def seen(responses: list[Any]) -> Any:
        parts = [p for r in responses for p in r.candidates[0].content.parts or []]
        thought = "".join(p.text for p in parts if p.thought)
        text = "".join(p.text or "" for p in parts if not p.thought and not p.function_call)
        calls = [(p.function_call.name, p.function_call.args) for p in parts if p.function_call]
        signatures = [p.thought_signature for p in parts if p.thought_signature]
        last = responses[-1]
        return (
            thought,
            text,
            calls,
            signatures,
            last.candidates[0].finish_reason,
            last.usage_metadata,
        )

    assert seen(chunks) == seen([whole])
