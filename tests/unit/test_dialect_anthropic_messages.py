"""The Anthropic Messages dialect: what an Anthropic SDK client sends and sees, and what Rhone
sends to and reads from api.anthropic.com. The official ``anthropic`` SDK is the judge wherever
it can be: it builds request bodies, parses our SSE streams and bodies, and raises our errors
(driven through an in-process mock transport, no network)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhone import canonical as ev
from rhone.dialects.anthropic_messages import (
    DEFAULT_MAX_TOKENS,
    DIALECT,
    count_tokens_request,
    encode_count_tokens,
)
from rhone.dialects.base import DecodedCall
from rhone.errors import RhoneError, make_failure
from rhone.jsonutil import compact_json, struct_from_dict
from rhone.sse import SseDecoder, StreamItem, sse_frame
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

USER, ASSISTANT, TOOL, SYSTEM = (
    content.ROLE_USER,
    content.ROLE_ASSISTANT,
    content.ROLE_TOOL,
    content.ROLE_SYSTEM,
)
MODEL = "claude-rhone-test"
PNG = b"\x89PNG\r\n\x1a\n-image-bytes"
PDF = b"%PDF-1.7 tiny"
NAME = "anthropic.messages"
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def text(value: str) -> content.Part:
    return content.Part(text=content.TextPart(text=value))


def call(id: str, name: str, arguments: str) -> content.Part:
    return content.Part(tool_call=content.ToolCallPart(id=id, name=name, arguments=arguments))


def result(
    call_id: str, *parts: content.Part, name: str = "", is_error: bool = False
) -> content.Part:
    return content.Part(
        tool_result=content.ToolResultPart(
            call_id=call_id, name=name, content=parts, is_error=is_error
        )
    )


def thinking(value: str, signature: str, origin: str = "") -> content.Part:
    return content.Part(
        thinking=content.ThinkingPart(text=value, signature=signature, origin=origin)
    )


def redacted(data: str, origin: str = "") -> content.Part:
    return content.Part(thinking=content.ThinkingPart(redacted=True, data=data, origin=origin))


def image(**fields: Any) -> content.Part:
    return content.Part(image=content.ImagePart(**fields))


def file(**fields: Any) -> content.Part:
    return content.Part(file=content.FilePart(**fields))


def msg(role: int, *parts: content.Part) -> content.Message:
    return content.Message(role=role, parts=parts)  # type: ignore[arg-type]


def body(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 256, "messages": list(messages), **fields}


def request(*messages: content.Message, **fields: Any) -> gen.GenerateRequest:
    config = fields.pop("config", gen.GenerationConfig())
    if not config.HasField("max_tokens"):
        config.max_tokens = 256
    return gen.GenerateRequest(model=MODEL, messages=messages, config=config, **fields)


def extras(**values: Any) -> dict[str, Any]:
    return {"extras": struct_from_dict(values), "extras_dialect": NAME}


HI: Any = {"role": "user", "content": "Hi"}
HI_MSG = msg(USER, text("Hi"))


# ------------------------------------------------------------------ decode_request: accepted


DECODE_CASES = [
    pytest.param(
        body(HI, system="Be brief."),
        request(msg(SYSTEM, text("Be brief.")), HI_MSG),
        id="system-string",
    ),
    pytest.param(
        body(
            HI,
            system=[
                {"type": "text", "text": "Be brief."},
                {"type": "text", "text": "Use French.", "cache_control": {"type": "ephemeral"}},
            ],
        ),
        request(
            msg(
                SYSTEM,
                text("Be brief."),
                content.Part(
                    text=content.TextPart(text="Use French."),
                    cache_control=content.CacheControl(type="ephemeral"),
                ),
            ),
            HI_MSG,
        ),
        id="system-blocks-cache-control-carried",
    ),
    pytest.param(
        body(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                ],
            }
        ),
        request(
            msg(
                USER,
                text("What is this?"),
                image(data=PNG, media_type="image/png"),
                image(url="https://x.test/a.jpg"),
            )
        ),
        id="images-base64-and-url",
    ),
    pytest.param(
        body(
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "title": "Contract",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": b64(PDF),
                        },
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                    },
                    {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}},
                    {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
                ],
            }
        ),
        request(
            msg(
                USER,
                file(data=PDF, media_type="application/pdf", title="Contract"),
                file(text="notes", media_type="text/plain"),
                file(url="https://x.test/a.pdf"),
                file(file_id="file_011"),
            )
        ),
        id="documents-pdf-text-url-file",
    ),
    pytest.param(
        body(
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_2",
                        "name": "weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "no station"}],
                        "is_error": True,
                    },
                ],
            },
        ),
        request(
            msg(USER, text("Weather in Paris and Rome?")),
            msg(
                ASSISTANT,
                text("Checking."),
                call("toolu_1", "weather", '{"city":"Paris"}'),
                call("toolu_2", "weather", '{"city":"Rome"}'),
            ),
            msg(
                TOOL,
                result("toolu_1", text("18C"), name="weather"),
                result("toolu_2", text("no station"), name="weather", is_error=True),
            ),
        ),
        id="tool-use-and-results-with-is-error",
    ),
    pytest.param(
        body(
            HI,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Let me see.", "signature": "EqQBCkYI"},
                    {"type": "redacted_thinking", "data": "EmwKAhgB"},
                    {"type": "text", "text": "Hello."},
                ],
            },
        ),
        request(
            HI_MSG,
            msg(
                ASSISTANT,
                thinking("Let me see.", "EqQBCkYI"),
                redacted("EmwKAhgB"),
                text("Hello."),
            ),
        ),
        id="thinking-and-redacted-thinking",
    ),
    pytest.param(
        body(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Here you go:"},
                    {"type": "tool_result", "tool_use_id": "toolu_9", "content": "done"},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/b.png"}},
                ],
            }
        ),
        request(
            msg(TOOL, result("toolu_9", text("done"))),
            msg(USER, text("Here you go:"), image(url="https://x.test/b.png")),
        ),
        id="mixed-user-turn-splits-results-first",
    ),
    pytest.param(
        body(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_3",
                        "content": [
                            {"type": "text", "text": "chart:"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": b64(PNG),
                                },
                            },
                        ],
                    },
                    {"type": "tool_result", "tool_use_id": "toolu_4"},
                ],
            }
        ),
        request(
            msg(
                TOOL,
                result("toolu_3", text("chart:"), image(data=PNG, media_type="image/png")),
                result("toolu_4"),
            )
        ),
        id="tool-result-with-image-and-without-content",
    ),
    pytest.param(
        body(
            HI,
            tools=[
                {"name": "weather", "description": "Weather now.", "input_schema": WEATHER_SCHEMA}
            ],
            tool_choice={"type": "auto"},
        ),
        request(
            HI_MSG,
            tools=[
                gen.Tool(
                    name="weather",
                    description="Weather now.",
                    parameters_json=compact_json(WEATHER_SCHEMA),
                )
            ],
            tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_AUTO),
        ),
        id="tool-choice-auto",
    ),
    pytest.param(
        body(HI, tool_choice={"type": "any", "disable_parallel_tool_use": True}),
        request(
            HI_MSG,
            tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_REQUIRED),
            config=gen.GenerationConfig(parallel_tool_calls=False),
        ),
        id="tool-choice-any-without-parallel-calls",
    ),
    pytest.param(
        body(HI, tool_choice={"type": "tool", "name": "weather"}),
        request(HI_MSG, tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="weather")),
        id="tool-choice-named-tool",
    ),
    pytest.param(
        body(HI, tool_choice={"type": "none"}),
        request(HI_MSG, tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_NONE)),
        id="tool-choice-none",
    ),
    pytest.param(
        body(
            HI,
            max_tokens=2048,
            stop_sequences=["END", "STOP"],
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            metadata={"user_id": "u-42"},
            thinking={"type": "enabled", "budget_tokens": 1024},
        ),
        request(
            HI_MSG,
            config=gen.GenerationConfig(
                max_tokens=2048,
                stop=["END", "STOP"],
                temperature=0.5,
                top_p=0.9,
                top_k=40,
                thinking_budget=1024,
                include_thinking=True,
            ),
            metadata={"user_id": "u-42"},
        ),
        id="sampling-metadata-thinking-budget",
    ),
    pytest.param(
        body(HI, thinking={"type": "disabled"}),
        request(HI_MSG, config=gen.GenerationConfig(include_thinking=False)),
        id="thinking-disabled",
    ),
    pytest.param(
        body(HI, thinking={"type": "adaptive"}),
        request(
            HI_MSG,
            config=gen.GenerationConfig(include_thinking=True),
            **extras(thinking={"type": "adaptive"}),
        ),
        id="thinking-adaptive-also-kept-verbatim",
    ),
    pytest.param(
        body(
            HI,
            service_tier="standard_only",
            container="container_1",
            cache_control={"type": "ephemeral"},
            inference_geo="us",
            some_future_field={"a": [1, 2]},
        ),
        request(
            HI_MSG,
            **extras(
                service_tier="standard_only",
                container="container_1",
                cache_control={"type": "ephemeral"},
                inference_geo="us",
                some_future_field={"a": [1, 2]},
            ),
        ),
        id="unmapped-fields-kept-as-extras",
    ),
    pytest.param(
        body(
            HI,
            output_config={
                "effort": "low",
                "format": {"type": "json_schema", "schema": WEATHER_SCHEMA},
            },
        ),
        request(
            HI_MSG,
            config=gen.GenerationConfig(
                response_format=gen.ResponseFormat(
                    type=gen.ResponseFormat.TYPE_JSON_SCHEMA,
                    schema_json=compact_json(WEATHER_SCHEMA),
                )
            ),
            **extras(output_config={"effort": "low"}),
        ),
        id="output-config-format-is-canonical-the-rest-extras",
    ),
    pytest.param(
        body(
            HI,
            tools=[
                {"name": "weather", "input_schema": WEATHER_SCHEMA, "strict": True},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            ],
        ),
        request(
            HI_MSG,
            tools=[
                gen.Tool(name="weather", parameters_json=compact_json(WEATHER_SCHEMA), strict=True)
            ],
            **extras(tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]),
        ),
        id="server-tools-ride-in-extras",
    ),
]


@pytest.mark.parametrize(("sent", "want"), DECODE_CASES)
def test_decode_request(sent: dict[str, Any], want: gen.GenerateRequest) -> None:
    decoded = DIALECT.decode_request(sent, {})
    assert decoded.request == want
    assert decoded.stream is False


def test_decode_request_reads_stream_flag() -> None:
    assert DIALECT.decode_request(body(HI, stream=True), {}).stream is True


def _sdk_client(handler: Callable[[httpx2.Request], httpx2.Response]) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="test-key",
        base_url="http://rhone.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


def test_decode_request_reads_what_the_sdk_sends() -> None:
    sent: list[dict[str, Any]] = []

    def handler(req: httpx2.Request) -> httpx2.Response:
        sent.append(orjson.loads(req.content))
        return httpx2.Response(404, json={"type": "error", "error": {"type": "not_found_error"}})

    # Typed as Any: the SDK's overloads want TypedDicts, and this is the JSON a client sends.
    kwargs: Any = dict(
        model=MODEL,
        max_tokens=64,
        system="Be brief.",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": b64(PNG),
                        },
                    },
                ],
            }
        ],
        tools=[{"name": "weather", "input_schema": WEATHER_SCHEMA}],
        tool_choice={"type": "tool", "name": "weather"},
        thinking={"type": "enabled", "budget_tokens": 1024},
        service_tier="auto",
    )
    with pytest.raises(anthropic.NotFoundError):
        _sdk_client(handler).messages.create(**kwargs)
    decoded = DIALECT.decode_request(sent[0], {})
    assert decoded.request == request(
        msg(SYSTEM, text("Be brief.")),
        msg(USER, text("Look"), image(data=PNG, media_type="image/png")),
        tools=[gen.Tool(name="weather", parameters_json=compact_json(WEATHER_SCHEMA))],
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="weather"),
        config=gen.GenerationConfig(max_tokens=64, thinking_budget=1024, include_thinking=True),
        **extras(service_tier="auto"),
    )


def test_count_tokens_request_needs_no_max_tokens() -> None:
    sent = {
        "model": MODEL,
        "messages": [HI],
        "system": "Be brief.",
        "tools": [{"name": "weather", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2000},
    }
    decoded = count_tokens_request(sent)
    assert list(decoded.messages) == [msg(SYSTEM, text("Be brief.")), HI_MSG]
    assert decoded.tools[0].name == "weather"
    assert decoded.tool_choice.mode == gen.ToolChoice.MODE_AUTO
    assert decoded.config.thinking_budget == 2000
    assert not decoded.config.HasField("max_tokens")
    assert encode_count_tokens(17) == {"input_tokens": 17}


# ------------------------------------------------------------------ decode_request: rejected


def _user(content_value: Any) -> dict[str, Any]:
    return {"role": "user", "content": content_value}


REJECT_CASES = [
    pytest.param(
        {"model": MODEL, "messages": [HI]},
        "max_tokens",
        "max_tokens: Field required",
        id="max-tokens-missing",
    ),
    pytest.param(
        body(HI, max_tokens=-1),
        "max_tokens",
        "greater than or equal to 0",
        id="max-tokens-negative",
    ),
    pytest.param(body(HI, max_tokens="9"), "max_tokens", "valid integer", id="max-tokens-a-string"),
    pytest.param(
        body(HI, max_tokens=True), "max_tokens", "valid integer", id="max-tokens-a-boolean"
    ),
    pytest.param(
        {"max_tokens": 5, "messages": [HI]}, "model", "Field required", id="model-missing"
    ),
    pytest.param(body(HI, model=3), "model", "valid string", id="model-not-a-string"),
    pytest.param(
        {"model": MODEL, "max_tokens": 5}, "messages", "Field required", id="messages-missing"
    ),
    pytest.param(body(HI) | {"messages": "hi"}, "messages", "valid list", id="messages-not-a-list"),
    pytest.param(body("hi"), "messages.0", "valid dictionary", id="message-not-an-object"),
    pytest.param(
        body({"role": "system", "content": "x"}),
        "messages.0.role",
        "Input should be 'user' or 'assistant'",
        id="role-system-in-messages",
    ),
    pytest.param(body({"content": "x"}), "messages.0.role", "Field required", id="role-missing"),
    pytest.param(
        body({"role": "user"}), "messages.0.content", "Field required", id="content-missing"
    ),
    pytest.param(body(_user(3)), "messages.0.content", "valid string", id="content-a-number"),
    pytest.param(
        body(HI, _user([{"type": "video"}])),
        "messages.1.content.0.type",
        "Input tag 'video' found using 'type'",
        id="block-type-unknown",
    ),
    pytest.param(
        body(_user([{"type": "tool_use", "id": "t", "name": "n", "input": {}}])),
        "messages.0.content.0.type",
        "does not match any of the expected tags",
        id="tool-use-in-a-user-turn",
    ),
    pytest.param(
        body({"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}),
        "messages.0.content.0.type",
        "expected tags: 'text', 'tool_use'",
        id="tool-result-in-an-assistant-turn",
    ),
    pytest.param(
        body(_user([{"text": "x"}])),
        "messages.0.content.0.type",
        "Field required",
        id="block-type-missing",
    ),
    pytest.param(
        body(_user([{"type": "text"}])),
        "messages.0.content.0.text",
        "Field required",
        id="text-missing",
    ),
    pytest.param(
        body(
            _user(
                [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "@@"},
                    }
                ]
            )
        ),
        "messages.0.content.0.source.data",
        "base64",
        id="image-data-not-base64",
    ),
    pytest.param(
        body(_user([{"type": "image", "source": {"type": "file", "file_id": "f"}}])),
        "messages.0.content.0.source.type",
        "Input tag 'file'",
        id="image-source-unsupported",
    ),
    pytest.param(
        body(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "n", "input": []}],
            }
        ),
        "messages.0.content.0.input",
        "valid dictionary",
        id="tool-use-input-not-an-object",
    ),
    pytest.param(
        body(
            _user([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_use"}]}])
        ),
        "messages.0.content.0.content.0.type",
        "Input tag 'tool_use'",
        id="tool-result-content-block-unsupported",
    ),
    pytest.param(
        body(_user([{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}])),
        "messages.0.content.0.is_error",
        "valid boolean",
        id="tool-result-is-error-not-a-boolean",
    ),
    pytest.param(
        body(HI, system=[{"type": "image"}]),
        "system.0.type",
        "Input tag 'image'",
        id="system-block-not-text",
    ),
    pytest.param(body(HI, system=7), "system", "valid list", id="system-a-number"),
    pytest.param(
        body(HI, temperature="hot"), "temperature", "valid number", id="temperature-a-string"
    ),
    pytest.param(body(HI, top_k=1.5), "top_k", "valid integer", id="top-k-a-float"),
    pytest.param(
        body(HI, stop_sequences=["a", 1]), "stop_sequences.1", "valid string", id="stop-not-strings"
    ),
    pytest.param(body(HI, stream="yes"), "stream", "valid boolean", id="stream-not-a-boolean"),
    pytest.param(
        body(HI, metadata={"session": "x"}),
        "metadata.session",
        "Extra inputs",
        id="metadata-unknown-key",
    ),
    pytest.param(
        body(HI, tools=[{"name": "f"}]),
        "tools.0.input_schema",
        "Field required",
        id="tool-without-schema",
    ),
    pytest.param(body(HI, tools={"name": "f"}), "tools", "valid list", id="tools-not-a-list"),
    pytest.param(
        body(HI, tool_choice={"type": "maybe"}),
        "tool_choice.type",
        "Input tag 'maybe'",
        id="tool-choice-unknown",
    ),
    pytest.param(
        body(HI, tool_choice={"type": ["auto"]}),
        "tool_choice.type",
        "Input tag ['auto']",
        id="tool-choice-type-a-list",
    ),
    pytest.param(
        body(HI, tool_choice={"type": "tool"}),
        "tool_choice.name",
        "Field required",
        id="tool-choice-tool-without-name",
    ),
    pytest.param(
        body(HI, thinking={"type": "enabled"}),
        "thinking.budget_tokens",
        "Field required",
        id="thinking-enabled-without-budget",
    ),
    pytest.param(
        body(HI, output_config={"format": {"type": "xml"}}),
        "output_config.format.type",
        "Input tag 'xml'",
        id="output-format-unknown",
    ),
]


@pytest.mark.parametrize(("sent", "param", "message"), REJECT_CASES)
def test_decode_request_rejects_with_the_field_named(
    sent: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(RhoneError) as caught:
        DIALECT.decode_request(sent, {})
    failure = caught.value.failure
    assert failure.code == gen.ERROR_CODE_INVALID_REQUEST
    assert failure.param == param
    assert failure.message.startswith(f"{param}: ")
    assert message in failure.message
    assert DIALECT.encode_error(failure) == (
        400,
        {"type": "error", "error": {"type": "invalid_request_error", "message": failure.message}},
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["role", "content", "type", "text", "source", "data", "input", "id", "name"]
)
_NODE = st.recursive(
    _JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=_NODE,
    fields=st.dictionaries(
        st.sampled_from(
            ["system", "tools", "tool_choice", "thinking", "metadata", "output_config", "top_k"]
        ),
        _NODE,
        max_size=3,
    ),
)
def test_decode_request_never_fails_with_anything_but_an_invalid_request(
    messages: Any, fields: dict[str, Any]
) -> None:
    try:
        DIALECT.decode_request(body() | {"messages": messages} | fields, {})
    except RhoneError as exc:
        assert exc.failure.code == gen.ERROR_CODE_INVALID_REQUEST
        assert exc.failure.param


# ------------------------------------------------------------------ encode_request (upstream)


ENCODE_CASES = [
    pytest.param(
        gen.GenerateRequest(model=MODEL, messages=[HI_MSG]),
        {"model": MODEL, "max_tokens": DEFAULT_MAX_TOKENS, "messages": [HI]},
        id="default-max-tokens",
    ),
    pytest.param(
        request(
            msg(SYSTEM, text("Be brief.")),
            msg(content.ROLE_DEVELOPER, text("Use French.")),
            HI_MSG,
        ),
        body(
            HI,
            system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
        ),
        id="system-and-developer-join-system",
    ),
    pytest.param(
        request(
            HI_MSG,
            msg(
                ASSISTANT,
                thinking("mine", "sig-a", origin="anthropic"),
                thinking("client replay", "sig-b"),
                thinking("gemini thoughts", "sig-g", origin="gemini"),
                redacted("opaque", origin="openai"),
                thinking("no signature", ""),
                call("toolu_1", "weather", "{not json"),
            ),
            msg(TOOL, result("toolu_1", text("18C"))),
            msg(USER, text("And tomorrow?")),
        ),
        body(
            HI,
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "mine", "signature": "sig-a"},
                    {"type": "thinking", "thinking": "client replay", "signature": "sig-b"},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ),
        id="foreign-thinking-dropped-results-merged-bad-arguments-empty",
    ),
    pytest.param(
        request(
            msg(
                USER,
                image(data=PNG, media_type="image/png"),
                file(data=PNG, media_type="image/png"),
                file(data=b"plain", media_type="text/plain", filename="a.txt"),
                file(data=PDF, media_type="application/pdf"),
            ),
            msg(ASSISTANT, text("")),
        ),
        body(
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
                        "title": "a.txt",
                    },
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": b64(PDF),
                        },
                    },
                ],
            },
            {"role": "assistant", "content": ""},
        ),
        id="files-from-other-surfaces",
    ),
    pytest.param(
        request(
            HI_MSG,
            config=gen.GenerationConfig(
                max_tokens=4000,
                thinking_budget=2048,
                include_thinking=True,
                seed=7,
                reasoning_effort="high",
                response_format=gen.ResponseFormat(
                    type=gen.ResponseFormat.TYPE_JSON_SCHEMA,
                    schema_json=compact_json(WEATHER_SCHEMA),
                ),
            ),
            metadata={"user_id": "u-1", "trace": "t"},
        ),
        body(
            HI,
            max_tokens=4000,
            metadata={"user_id": "u-1"},
            thinking={"type": "enabled", "budget_tokens": 2048},
            output_config={"format": {"type": "json_schema", "schema": WEATHER_SCHEMA}},
        ),
        id="thinking-budget-schema-metadata",
    ),
    pytest.param(
        request(
            HI_MSG,
            tools=[gen.Tool(name="weather", parameters_json='{"properties":{}}')],
            tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_UNSPECIFIED),
            config=gen.GenerationConfig(parallel_tool_calls=False, include_thinking=False),
        ),
        body(
            HI,
            tools=[{"name": "weather", "input_schema": {"properties": {}, "type": "object"}}],
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
            thinking={"type": "disabled"},
        ),
        id="no-parallel-calls-needs-a-choice-and-schemas-get-type-object",
    ),
    pytest.param(
        request(HI_MSG, tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_REQUIRED)),
        body(HI),
        id="tool-choice-left-out-without-tools",
    ),
    pytest.param(
        gen.GenerateRequest(
            model=MODEL,
            messages=[HI_MSG],
            config=gen.GenerationConfig(thinking_budget=128, temperature=1.7),
        ),
        {
            "model": MODEL,
            "max_tokens": DEFAULT_MAX_TOKENS + 1024,
            "messages": [HI],
            "temperature": 1.0,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
        id="another-surfaces-small-budget-and-hot-temperature-fit-anthropic",
    ),
    pytest.param(
        request(HI_MSG, config=gen.GenerationConfig(thinking_budget=0)),
        body(HI, thinking={"type": "disabled"}),
        id="zero-budget-is-no-thinking",
    ),
    pytest.param(
        request(
            HI_MSG,
            tools=[gen.Tool(name="weather", parameters_json=compact_json(WEATHER_SCHEMA))],
            tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_REQUIRED),
            **extras(
                service_tier="auto",
                tools=[{"type": "web_search_20250305", "name": "web_search"}],
                output_config={"effort": "low"},
                model="not-this-one",
            ),
        ),
        body(
            HI,
            tools=[
                {"name": "weather", "input_schema": WEATHER_SCHEMA},
                {"type": "web_search_20250305", "name": "web_search"},
            ],
            tool_choice={"type": "any"},
            service_tier="auto",
            output_config={"effort": "low"},
        ),
        id="own-extras-merged",
    ),
    pytest.param(
        request(
            HI_MSG,
            extras=struct_from_dict({"seed": 1, "logprobs": True}),
            extras_dialect="openai.chat",
        ),
        body(HI),
        id="other-dialects-extras-not-sent",
    ),
]


@pytest.mark.parametrize(("canonical", "want"), ENCODE_CASES)
def test_encode_request(canonical: gen.GenerateRequest, want: dict[str, Any]) -> None:
    assert DIALECT.encode_request(canonical, False) == want


def test_encode_request_asks_for_a_stream() -> None:
    assert DIALECT.encode_request(request(HI_MSG), True)["stream"] is True


# ------------------------------------------------------------------ stream encoder


def _stream(
    events: Iterable[gen.GenerationEvent], meta: dict[str, Any] | None = None
) -> list[StreamItem]:
    encoder = DIALECT.stream_encoder(
        DecodedCall(request=gen.GenerateRequest(model=MODEL)), meta or {}
    )
    items = [item for event in events for item in encoder.encode(event)]
    return items + encoder.close()


def _wire(items: list[StreamItem]) -> list[tuple[str | None, dict[str, Any]]]:
    return [(item.event, orjson.loads(item.data)) for item in items]


def _message_start(
    meta: dict[str, Any] | None = None, id: str = "msg_1"
) -> tuple[str, dict[str, Any]]:
    message: dict[str, Any] = {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    if meta:
        message["rhone"] = meta
    return ("message_start", {"type": "message_start", "message": message})


PING = ("ping", {"type": "ping"})
USAGE = ev.usage(120, 15, cached_input_tokens=100, cache_creation_input_tokens=4)
WIRE_USAGE = {
    "input_tokens": 16,
    "output_tokens": 15,
    "cache_creation_input_tokens": 4,
    "cache_read_input_tokens": 100,
}


def _block(kind: str, index: int, **fields: Any) -> tuple[str, dict[str, Any]]:
    return (kind, {"type": kind, "index": index, **fields})


def _end(
    reason: str, usage: dict[str, int], stop_sequence: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
                "usage": usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


TEXT_EVENTS = [
    ev.started("msg_1", MODEL, "anthropic"),
    ev.part_started(0, gen.PART_KIND_TEXT),
    ev.text_delta(0, "Hel"),
    ev.text_delta(0, "lo."),
    ev.part_finished(0),
    USAGE,
    ev.finished(gen.FINISH_REASON_STOP),
]
TOOL_EVENTS = [
    ev.started("chatcmpl-9", MODEL, "openai"),
    ev.part_started(0, gen.PART_KIND_TEXT),
    ev.text_delta(0, "Checking."),
    ev.part_finished(0),
    ev.part_started(1, gen.PART_KIND_TOOL_CALL, "toolu_1", "weather"),
    ev.arguments_delta(1, '{"city":'),
    ev.arguments_delta(1, '"Paris"}'),
    ev.signature_delta(1, "gemini-sig"),
    ev.part_finished(1),
    ev.finished(gen.FINISH_REASON_TOOL_CALLS),
]
THINKING_EVENTS = [
    ev.started("msg_2", MODEL, "anthropic"),
    ev.part_started(0, gen.PART_KIND_THINKING),
    ev.thinking_delta(0, "Let me "),
    ev.thinking_delta(0, "think."),
    ev.signature_delta(0, "EqQB"),
    ev.signature_delta(0, "CkYI"),
    ev.part_finished(0),
    ev.part_started(1, gen.PART_KIND_REDACTED_THINKING),
    ev.redacted_delta(1, "Emw"),
    ev.redacted_delta(1, "KAhgB"),
    ev.part_finished(1),
    ev.part_started(2, gen.PART_KIND_TEXT),
    ev.text_delta(2, "42"),
    ev.part_finished(2),
    USAGE,
    ev.finished(gen.FINISH_REASON_STOP_SEQUENCE, "END"),
]

GOLDEN_STREAMS = [
    pytest.param(
        TEXT_EVENTS,
        {"session_id": "ses_1"},
        [
            _message_start({"session_id": "ses_1"}),
            PING,
            _block("content_block_start", 0, content_block={"type": "text", "text": ""}),
            _block("content_block_delta", 0, delta={"type": "text_delta", "text": "Hel"}),
            _block("content_block_delta", 0, delta={"type": "text_delta", "text": "lo."}),
            _block("content_block_stop", 0),
            *_end("end_turn", WIRE_USAGE),
        ],
        id="text",
    ),
    pytest.param(
        TOOL_EVENTS,
        {},
        [
            _message_start(id="msg_chatcmpl-9"),
            PING,
            _block("content_block_start", 0, content_block={"type": "text", "text": ""}),
            _block("content_block_delta", 0, delta={"type": "text_delta", "text": "Checking."}),
            _block("content_block_stop", 0),
            _block(
                "content_block_start",
                1,
                content_block={"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}},
            ),
            _block(
                "content_block_delta",
                1,
                delta={"type": "input_json_delta", "partial_json": '{"city":'},
            ),
            _block(
                "content_block_delta",
                1,
                delta={"type": "input_json_delta", "partial_json": '"Paris"}'},
            ),
            _block("content_block_stop", 1),
            *_end("tool_use", {"output_tokens": 0}),
        ],
        id="tool-use",
    ),
    pytest.param(
        THINKING_EVENTS,
        {},
        [
            _message_start(id="msg_2"),
            PING,
            _block(
                "content_block_start",
                0,
                content_block={"type": "thinking", "thinking": "", "signature": ""},
            ),
            _block(
                "content_block_delta", 0, delta={"type": "thinking_delta", "thinking": "Let me "}
            ),
            _block(
                "content_block_delta", 0, delta={"type": "thinking_delta", "thinking": "think."}
            ),
            _block(
                "content_block_delta", 0, delta={"type": "signature_delta", "signature": "EqQBCkYI"}
            ),
            _block("content_block_stop", 0),
            _block(
                "content_block_start",
                1,
                content_block={"type": "redacted_thinking", "data": "EmwKAhgB"},
            ),
            _block("content_block_stop", 1),
            _block("content_block_start", 2, content_block={"type": "text", "text": ""}),
            _block("content_block_delta", 2, delta={"type": "text_delta", "text": "42"}),
            _block("content_block_stop", 2),
            *_end("stop_sequence", WIRE_USAGE, "END"),
        ],
        id="thinking-with-signature-and-redacted",
    ),
]


@pytest.mark.parametrize(("events", "meta", "want"), GOLDEN_STREAMS)
def test_stream_encoder_golden(
    events: list[gen.GenerationEvent], meta: dict[str, Any], want: list[tuple[str, dict[str, Any]]]
) -> None:
    assert _wire(_stream(events, meta)) == want


def _sse(items: Iterable[StreamItem]) -> bytes:
    return b"".join(sse_frame(item) for item in items)


def _sdk_stream_final(sse: bytes) -> Message:
    """Runs the SDK's own streaming helper (SSE parser + MessageStream accumulator) over bytes."""

    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    with _sdk_client(handler).messages.stream(model=MODEL, max_tokens=10, messages=[HI]) as stream:
        return stream.get_final_message()


def test_sdk_accumulates_a_text_stream() -> None:
    final = _sdk_stream_final(_sse(_stream(TEXT_EVENTS, {"session_id": "ses_1"})))
    assert final.id == "msg_1"
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == "Hello."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (16, 15)
    assert final.usage.cache_read_input_tokens == 100
    assert final.model_extra == {"rhone": {"session_id": "ses_1"}}


def test_sdk_accumulates_a_tool_use_stream() -> None:
    final = _sdk_stream_final(_sse(_stream(TOOL_EVENTS)))
    assert final.stop_reason == "tool_use"
    tool_use = final.content[1]
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == ("toolu_1", "weather", {"city": "Paris"})


def test_sdk_accumulates_thinking_with_its_whole_signature() -> None:
    final = _sdk_stream_final(_sse(_stream(THINKING_EVENTS)))
    think, hidden, answer = final.content
    assert think.type == "thinking" and hidden.type == "redacted_thinking" and answer.type == "text"
    assert (think.thinking, think.signature) == ("Let me think.", "EqQBCkYI")
    assert hidden.data == "EmwKAhgB"
    assert (final.stop_reason, final.stop_sequence) == ("stop_sequence", "END")


def test_stream_failure_is_an_error_event_the_sdk_raises() -> None:
    overloaded = make_failure(gen.ERROR_CODE_OVERLOADED, "Overloaded")
    items = _stream([*TEXT_EVENTS[:3], ev.failed(overloaded), ev.text_delta(0, "late")])
    assert _wire(items)[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        _sdk_stream_final(_sse(items))
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


FINISH_CASES = [
    (gen.FINISH_REASON_STOP, "end_turn"),
    (gen.FINISH_REASON_LENGTH, "max_tokens"),
    (gen.FINISH_REASON_TOOL_CALLS, "tool_use"),
    (gen.FINISH_REASON_STOP_SEQUENCE, "stop_sequence"),
    (gen.FINISH_REASON_REFUSAL, "refusal"),
    (gen.FINISH_REASON_PAUSE, "pause_turn"),
    (gen.FINISH_REASON_CONTENT_FILTER, "refusal"),
]


@pytest.mark.parametrize(("reason", "wire"), FINISH_CASES)
def test_finish_reasons_map_to_stop_reasons(reason: int, wire: str) -> None:
    items = _wire(_stream([ev.started("msg_1", MODEL, "x"), ev.finished(reason)]))
    assert items[-2][1]["delta"]["stop_reason"] == wire
    response = gen.GenerateResponse(id="msg_1", model=MODEL, finish_reason=reason)  # type: ignore[arg-type]
    assert DIALECT.encode_response(response, {})["stop_reason"] == wire


# ------------------------------------------------------------------ encode_response


def test_encode_response_is_an_sdk_message() -> None:
    response = gen.GenerateResponse(
        id="resp_7",
        model=MODEL,
        provider="openai",
        message=msg(
            ASSISTANT,
            thinking("hmm", "sig"),
            redacted("opaque"),
            text("Here."),
            call("toolu_1", "weather", '{"city":"Paris"}'),
            image(url="https://x.test/generated.png"),
        ),
        usage=gen.Usage(input_tokens=50, output_tokens=9, cached_input_tokens=30),
        finish_reason=gen.FINISH_REASON_TOOL_CALLS,
    )
    encoded = DIALECT.encode_response(response, {"session_id": "ses_9"})
    parsed = Message.model_validate(encoded)
    assert parsed.id == "msg_resp_7"
    assert [block.type for block in parsed.content] == [
        "thinking",
        "redacted_thinking",
        "text",
        "tool_use",
    ]
    assert parsed.content[3].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert (parsed.usage.input_tokens, parsed.usage.cache_read_input_tokens) == (20, 30)
    assert parsed.stop_reason == "tool_use"
    assert encoded["rhone"] == {"session_id": "ses_9"}
    assert "rhone" not in DIALECT.encode_response(response, {})


def test_sdk_reads_encode_response_as_its_create_result() -> None:
    response = gen.GenerateResponse(id="msg_3", model=MODEL, message=msg(ASSISTANT, text("Hi!")))
    encoded = DIALECT.encode_response(response, {"session_id": "ses_3"})
    client = _sdk_client(lambda _: httpx2.Response(200, json=encoded))
    message = client.messages.create(model=MODEL, max_tokens=5, messages=[HI])
    assert message.content[0].text == "Hi!"  # type: ignore[union-attr]
    assert message.model_extra == {"rhone": {"session_id": "ses_3"}}


# ------------------------------------------------------------------ stream decoder (upstream)


# anthropic-sdk-python tests/lib/streaming/fixtures/tool_use_response.txt
# (docs/protocols/anthropic-messages.md#streaming), with cache counts and a server tool block added.
RECORDED_TOOL_USE = (
    "event: message_start\n"
    'data: {"type":"message_start","message":{"id":"msg_019Q","type":"message",'
    '"role":"assistant","model":"claude-sonnet-4-20250514","content":[],'
    '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":377,'
    '"cache_creation_input_tokens":3,"cache_read_input_tokens":20,"output_tokens":1,'
    '"service_tier":"standard"}}}\n'
    "\n"
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"text",'
    '"text":""}}\n'
    "\n"
    "event: ping\n"
    'data: {"type": "ping"}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    '"text":"I\'ll check the weather."}}\n'
    "\n"
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":0}\n'
    "\n"
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":1,'
    '"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search",'
    '"input":{}}}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":1,'
    '"delta":{"type":"input_json_delta","partial_json":"{}"}}\n'
    "\n"
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":1}\n'
    "\n"
    "event: content_block_start\n"
    'data: {"type":"content_block_start","index":2,'
    '"content_block":{"type":"tool_use","id":"toolu_01NR","name":"get_weather",'
    '"input":{}}}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":2,'
    '"delta":{"type":"input_json_delta","partial_json":""}}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":2,'
    '"delta":{"type":"input_json_delta","partial_json":"{\\"locati"}}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":2,'
    '"delta":{"type":"input_json_delta","partial_json":"on\\": \\"Paris\\"}"}}\n'
    "\n"
    "event: content_block_stop\n"
    'data: {"type":"content_block_stop","index":2}\n'
    "\n"
    "event: message_delta\n"
    'data: {"type":"message_delta","delta":{"stop_reason":"tool_use",'
    '"stop_sequence":null},"usage":{"output_tokens":65}}\n'
    "\n"
    "event: message_stop\n"
    'data: {"type":"message_stop"}\n'
    "\n"
    "\n"
)


def _decode_sse(sse: str) -> list[gen.GenerationEvent]:
    parser, decoder = SseDecoder(), DIALECT.stream_decoder()
    events = []
    for frame in [*parser.feed(sse), *parser.close()]:
        events += decoder.feed(frame.event, orjson.loads(frame.data))
    return events + decoder.close()


def test_stream_decoder_reads_a_recorded_tool_use_stream() -> None:
    events = _decode_sse(RECORDED_TOOL_USE)
    assert events[0] == ev.started("msg_019Q", "claude-sonnet-4-20250514", "anthropic")
    assert events[-2:] == [
        ev.usage(400, 65, cached_input_tokens=20, cache_creation_input_tokens=3),
        ev.finished(gen.FINISH_REASON_TOOL_CALLS),
    ]
    assert ev.fold_events(events) == gen.GenerateResponse(
        id="msg_019Q",
        model="claude-sonnet-4-20250514",
        provider="anthropic",
        message=msg(
            ASSISTANT,
            text("I'll check the weather."),
            call("toolu_01NR", "get_weather", '{"location": "Paris"}'),
        ),
        usage=gen.Usage(
            input_tokens=400,
            output_tokens=65,
            cached_input_tokens=20,
            cache_creation_input_tokens=3,
        ),
        finish_reason=gen.FINISH_REASON_TOOL_CALLS,
    )


def test_stream_decoder_keeps_the_last_signature_and_redacted_data() -> None:
    sse = _sse(
        [
            StreamItem(orjson.dumps(data), name)
            for name, data in [
                (
                    "message_start",
                    {
                        "type": "message_start",
                        "message": {"id": "msg_5", "model": "m", "usage": {"input_tokens": 3}},
                    },
                ),
                _block(
                    "content_block_start",
                    0,
                    content_block={"type": "thinking", "thinking": "", "signature": ""},
                ),
                _block(
                    "content_block_delta", 0, delta={"type": "thinking_delta", "thinking": "so"}
                ),
                _block(
                    "content_block_delta", 0, delta={"type": "signature_delta", "signature": "old"}
                ),
                _block(
                    "content_block_delta", 0, delta={"type": "signature_delta", "signature": "new"}
                ),
                _block("content_block_stop", 0),
                _block(
                    "content_block_start",
                    1,
                    content_block={"type": "redacted_thinking", "data": "xyz"},
                ),
                _block("content_block_stop", 1),
                (
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 4},
                    },
                ),
                ("message_stop", {"type": "message_stop"}),
            ]
        ]
    ).decode()
    response = ev.fold_events(_decode_sse(sse))
    assert list(response.message.parts) == [
        thinking("so", "new", origin="anthropic"),
        redacted("xyz", origin="anthropic"),
    ]
    assert response.usage == gen.Usage(input_tokens=3, output_tokens=4)


def test_stream_decoder_error_event_is_a_retryable_overloaded_failure() -> None:
    decoder = DIALECT.stream_decoder()
    decoder.feed("message_start", {"type": "message_start", "message": {"id": "msg_1"}})
    events = decoder.feed(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert events == [
        ev.failed(make_failure(gen.ERROR_CODE_OVERLOADED, "Overloaded", retryable=True))
    ]
    assert decoder.close() == []


def test_stream_decoder_fails_a_cut_stream() -> None:
    decoder = DIALECT.stream_decoder()
    decoder.feed("message_start", {"type": "message_start", "message": {"id": "msg_1"}})
    decoder.feed(
        None, {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    )
    (event,) = decoder.close()
    assert event.failure.code == gen.ERROR_CODE_INTERNAL
    assert event.failure.message == "upstream stream ended early"
    assert event.failure.retryable


def test_decode_response_reads_a_message_body() -> None:
    decoded = DIALECT.decode_response(
        {
            "id": "msg_8",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "web_search_tool_result", "tool_use_id": "srv", "content": []},
                {"type": "text", "text": "Yes", "citations": None},
                {"type": "tool_use", "id": "toolu_2", "name": "f", "input": {"b": [1, 2]}},
            ],
            "stop_reason": "model_context_window_exceeded",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": None},
        }
    )
    assert decoded == gen.GenerateResponse(
        id="msg_8",
        model=MODEL,
        provider="anthropic",
        message=msg(
            ASSISTANT,
            thinking("hm", "s", origin="anthropic"),
            text("Yes"),
            call("toolu_2", "f", '{"b":[1,2]}'),
        ),
        usage=gen.Usage(input_tokens=10, output_tokens=2),
        finish_reason=gen.FINISH_REASON_LENGTH,
    )


# ------------------------------------------------------------------ errors


ENCODE_ERROR_CASES = [
    (gen.ERROR_CODE_INVALID_REQUEST, 0, 400, "invalid_request_error", anthropic.BadRequestError),
    (gen.ERROR_CODE_AUTHENTICATION, 0, 401, "authentication_error", anthropic.AuthenticationError),
    (gen.ERROR_CODE_PERMISSION, 402, 402, "billing_error", anthropic.APIStatusError),
    (gen.ERROR_CODE_PERMISSION, 0, 403, "permission_error", anthropic.PermissionDeniedError),
    (gen.ERROR_CODE_NOT_FOUND, 0, 404, "not_found_error", anthropic.NotFoundError),
    (gen.ERROR_CODE_CONFLICT, 0, 409, "invalid_request_error", anthropic.ConflictError),
    (gen.ERROR_CODE_REQUEST_TOO_LARGE, 0, 413, "request_too_large", anthropic.APIStatusError),
    (gen.ERROR_CODE_RATE_LIMITED, 0, 429, "rate_limit_error", anthropic.RateLimitError),
    (gen.ERROR_CODE_INTERNAL, 0, 500, "api_error", anthropic.InternalServerError),
    (gen.ERROR_CODE_UNAVAILABLE, 0, 503, "api_error", anthropic.InternalServerError),
    (gen.ERROR_CODE_TIMEOUT, 0, 504, "timeout_error", anthropic.InternalServerError),
    (gen.ERROR_CODE_OVERLOADED, 0, 529, "overloaded_error", anthropic.OverloadedError),
    (gen.ERROR_CODE_OVERLOADED, 503, 503, "api_error", anthropic.InternalServerError),
    (gen.ERROR_CODE_CANCELLED, 0, 499, "invalid_request_error", anthropic.APIStatusError),
]


@pytest.mark.parametrize(("code", "hint", "status", "kind", "exception"), ENCODE_ERROR_CASES)
def test_encode_error_renders_what_the_sdk_expects(
    code: int, hint: int, status: int, kind: str, exception: type[Exception]
) -> None:
    failure = make_failure(code, "went wrong", http_status=hint)
    got_status, got_body = DIALECT.encode_error(failure)
    assert (got_status, got_body) == (
        status,
        {"type": "error", "error": {"type": kind, "message": "went wrong"}},
    )
    client = _sdk_client(lambda _: httpx2.Response(got_status, json=got_body))
    with pytest.raises(exception) as caught:
        client.messages.create(model=MODEL, max_tokens=5, messages=[HI])
    assert caught.value.status_code == status  # type: ignore[attr-defined]


DECODE_ERROR_CASES = [
    pytest.param(
        400,
        {"error": {"type": "invalid_request_error", "message": "bad"}},
        gen.ERROR_CODE_INVALID_REQUEST,
        "bad",
        False,
        id="400",
    ),
    pytest.param(
        401,
        {"error": {"type": "authentication_error", "message": "key"}},
        gen.ERROR_CODE_AUTHENTICATION,
        "key",
        False,
        id="401",
    ),
    pytest.param(
        402,
        {"error": {"type": "billing_error", "message": "pay"}},
        gen.ERROR_CODE_PERMISSION,
        "pay",
        False,
        id="402",
    ),
    pytest.param(
        404,
        {"error": {"type": "not_found_error", "message": "model"}},
        gen.ERROR_CODE_NOT_FOUND,
        "model",
        False,
        id="404",
    ),
    pytest.param(
        429,
        {"error": {"type": "rate_limit_error", "message": "slow"}},
        gen.ERROR_CODE_RATE_LIMITED,
        "slow",
        True,
        id="429",
    ),
    pytest.param(
        500,
        {"error": {"type": "api_error", "message": "oops"}},
        gen.ERROR_CODE_INTERNAL,
        "oops",
        True,
        id="500",
    ),
    pytest.param(
        504,
        {"error": {"type": "timeout_error", "message": "late"}},
        gen.ERROR_CODE_TIMEOUT,
        "late",
        True,
        id="504",
    ),
    pytest.param(
        529,
        {"error": {"type": "overloaded_error", "message": "Overloaded"}},
        gen.ERROR_CODE_OVERLOADED,
        "Overloaded",
        True,
        id="529",
    ),
    pytest.param(
        413,
        "<html>Request Entity Too Large</html>",
        gen.ERROR_CODE_REQUEST_TOO_LARGE,
        "<html>Request Entity Too Large</html>",
        False,
        id="413-html-from-a-proxy",
    ),
    pytest.param(
        503, "", gen.ERROR_CODE_UNAVAILABLE, "Anthropic answered HTTP 503.", True, id="503-empty"
    ),
]


@pytest.mark.parametrize(("status", "sent", "code", "message", "retryable"), DECODE_ERROR_CASES)
def test_decode_error(status: int, sent: Any, code: int, message: str, retryable: bool) -> None:
    raw = sent.encode() if isinstance(sent, str) else orjson.dumps({"type": "error", **sent})
    failure = DIALECT.decode_error(status, raw)
    assert (failure.code, failure.message, failure.retryable, failure.http_status) == (
        code,
        message,
        retryable,
        status,
    )
    assert DIALECT.encode_error(failure)[0] == status


# ------------------------------------------------------------------ round trips (hypothesis)


_WORD = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_ID = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)
_ARGS = st.dictionaries(
    _ID, st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _WORD, max_size=3
).map(compact_json)
_TEXT = _WORD.map(text)
_IMAGE = st.one_of(
    st.builds(
        lambda d, t: image(data=d, media_type=t),
        st.binary(max_size=16),
        st.sampled_from(["image/png", "image/jpeg"]),
    ),
    _ID.map(lambda p: image(url=f"https://x.test/{p}.png")),
)
_FILE = st.one_of(
    st.builds(
        lambda d, t: file(data=d, media_type="application/pdf", title=t),
        st.binary(max_size=16),
        st.just("") | _WORD,
    ),
    st.builds(
        lambda s, t: file(text=s, media_type="text/plain", title=t), _WORD, st.just("") | _WORD
    ),
    _ID.map(lambda p: file(url=f"https://x.test/{p}.pdf")),
    _ID.map(lambda p: file(file_id=f"file_{p}")),
)
_CALL_IDS = st.sampled_from(["toolu_a", "toolu_b", "toolu_c"])
_CALL = st.builds(call, _CALL_IDS, _ID, _ARGS)
_THINKING = st.builds(thinking, st.text(max_size=12), _ID) | _ID.map(redacted)
_RESULT = st.builds(
    lambda i, parts, e: result(i, *parts, is_error=e),
    _CALL_IDS,
    st.lists(_TEXT | _IMAGE, max_size=2),
    st.booleans(),
)
_TURN = st.one_of(
    st.lists(_TEXT | _IMAGE | _FILE, min_size=1, max_size=3).map(lambda p: msg(USER, *p)),
    st.lists(_TEXT | _CALL | _THINKING, min_size=1, max_size=3).map(lambda p: msg(ASSISTANT, *p)),
    st.lists(_RESULT, min_size=1, max_size=2).map(lambda p: msg(TOOL, *p)),
)
_TOOL = st.builds(
    lambda name, description, strict: gen.Tool(
        name=name, description=description, parameters_json=compact_json(WEATHER_SCHEMA), **strict
    ),
    _ID,
    st.just("") | _WORD,
    st.just({}) | st.booleans().map(lambda s: {"strict": s}),
)
_EXTRA_KEYS = st.sampled_from(
    ["service_tier", "container", "inference_geo", "cache_control", "x_new"]
)
_EXTRA_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | _WORD,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_ID, inner, max_size=2),
    max_leaves=4,
)
_UNIT = st.floats(0, 1, allow_nan=False)


def _name_results(req: gen.GenerateRequest) -> gen.GenerateRequest:
    """Decoding names each result after the latest earlier call with its id, as Anthropic's
    tool_result carries only the id."""
    names: dict[str, str] = {}
    for message in req.messages:
        for part in message.parts:
            if part.HasField("tool_call"):
                names[part.tool_call.id] = part.tool_call.name
            elif part.HasField("tool_result"):
                part.tool_result.name = names.get(part.tool_result.call_id, "")
    return req


@st.composite
def expressible_requests(draw: st.DrawFn) -> gen.GenerateRequest:
    req = gen.GenerateRequest(model=draw(_ID))
    if draw(st.booleans()):
        req.messages.append(msg(SYSTEM, *draw(st.lists(_TEXT, min_size=1, max_size=2))))
    req.messages.extend(draw(st.lists(_TURN, min_size=1, max_size=5)))
    config = req.config
    config.max_tokens = draw(st.integers(0, 200_000))
    req.tools.extend(draw(st.lists(_TOOL, max_size=2)))
    if req.tools:
        mode = draw(st.sampled_from(list(gen.ToolChoice.Mode.values())))
        if mode != gen.ToolChoice.MODE_UNSPECIFIED:
            req.tool_choice.mode = mode
        if mode == gen.ToolChoice.MODE_TOOL:
            req.tool_choice.name = req.tools[0].name
        if mode not in (gen.ToolChoice.MODE_UNSPECIFIED, gen.ToolChoice.MODE_NONE) and draw(
            st.booleans()
        ):
            config.parallel_tool_calls = draw(st.booleans())
    config.stop.extend(draw(st.lists(_WORD, max_size=2)))
    for field, value in (("temperature", _UNIT), ("top_p", _UNIT), ("top_k", st.integers(0, 500))):
        if draw(st.booleans()):
            setattr(config, field, draw(value))
    thinking_mode = draw(st.sampled_from(["unset", "budget", "off"]))
    if thinking_mode == "budget":
        config.thinking_budget, config.include_thinking = draw(st.integers(1024, 64_000)), True
    elif thinking_mode == "off":
        config.include_thinking = False
    if draw(st.booleans()):
        config.response_format.type = gen.ResponseFormat.TYPE_JSON_SCHEMA
        config.response_format.schema_json = compact_json(WEATHER_SCHEMA)
    if draw(st.booleans()):
        req.metadata["user_id"] = draw(_WORD)
    extra = draw(st.dictionaries(_EXTRA_KEYS, _EXTRA_VALUES, max_size=3))
    if extra:
        req.extras.CopyFrom(struct_from_dict(extra))
        req.extras_dialect = NAME
    return _name_results(req)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressible_requests())
def test_request_round_trips(req: gen.GenerateRequest) -> None:
    wire = orjson.loads(orjson.dumps(DIALECT.encode_request(req, False)))
    decoded = DIALECT.decode_request(wire, {})
    assert decoded.request == req
    assert decoded.stream is False


_RESPONSE_PART = st.one_of(
    st.text(max_size=12).map(text),
    _CALL,
    st.builds(
        lambda t, s: thinking(t, s, origin="anthropic"), st.text(max_size=12), st.text(max_size=8)
    ),
    st.text(max_size=8).map(lambda d: redacted(d, origin="anthropic")),
)
_REASONS = [
    gen.FINISH_REASON_STOP,
    gen.FINISH_REASON_LENGTH,
    gen.FINISH_REASON_TOOL_CALLS,
    gen.FINISH_REASON_REFUSAL,
    gen.FINISH_REASON_PAUSE,
]


@st.composite
def expressible_responses(draw: st.DrawFn) -> gen.GenerateResponse:
    cached, created, fresh = (draw(st.integers(0, 10_000)) for _ in range(3))
    response = gen.GenerateResponse(
        id="msg_" + draw(_ID),
        model=draw(_ID),
        provider="anthropic",
        message=msg(ASSISTANT, *draw(st.lists(_RESPONSE_PART, max_size=4))),
        usage=gen.Usage(
            input_tokens=cached + created + fresh,
            output_tokens=draw(st.integers(0, 10_000)),
            cached_input_tokens=cached,
            cache_creation_input_tokens=created,
        ),
    )
    if draw(st.booleans()):
        response.finish_reason = gen.FINISH_REASON_STOP_SEQUENCE
        response.stop_sequence = draw(_WORD)
    else:
        response.finish_reason = draw(st.sampled_from(_REASONS))
    return response


@settings(max_examples=150, deadline=None)
@given(expressible_responses())
def test_response_round_trips(response: gen.GenerateResponse) -> None:
    wire = orjson.loads(orjson.dumps(DIALECT.encode_response(response, {"session_id": "s"})))
    assert DIALECT.decode_response(wire) == response


@settings(max_examples=150, deadline=None)
@given(expressible_responses())
def test_stream_round_trips(response: gen.GenerateResponse) -> None:
    decoder = DIALECT.stream_decoder()
    events = []
    for item in _stream(ev.response_events(response)):
        events += decoder.feed(item.event, orjson.loads(item.data))
    assert decoder.close() == []
    assert ev.fold_events(events) == response


@settings(max_examples=40, deadline=None)
@given(expressible_responses())
def test_sdk_stream_and_body_agree(response: gen.GenerateResponse) -> None:
    """The SDK's accumulated stream and the non-stream body are the same message."""
    final = _sdk_stream_final(_sse(_stream(ev.response_events(response))))
    whole = Message.model_validate(DIALECT.encode_response(response, {}))
    assert final.model_dump(exclude_none=True) == whole.model_dump(exclude_none=True)


def test_an_empty_conversation_is_400_naming_messages() -> None:
    with pytest.raises(RhoneError) as caught:
        DIALECT.decode_request({"model": "m", "max_tokens": 5, "messages": []}, {})
    assert caught.value.failure.param == "messages"
    status, body = DIALECT.encode_error(caught.value.failure)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
