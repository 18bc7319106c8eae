"""The OpenAI Chat dialect: what a chat client sends and sees, and what Rhone sends to and reads
from an OpenAI-compatible upstream. The official ``openai`` SDK is the judge wherever it can be:
it builds request bodies, parses our chunks and bodies, and raises our errors."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

import httpx2
import openai
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from rhone import canonical
from rhone.dialects.base import DecodedCall
from rhone.dialects.openai_chat import DIALECT, ChatStreamEncoder
from rhone.errors import RhoneError, make_failure
from rhone.jsonutil import compact_json, struct_from_dict
from rhone.sse import StreamItem, sse_frame
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

USER, ASSISTANT, TOOL = content.ROLE_USER, content.ROLE_ASSISTANT, content.ROLE_TOOL
SYSTEM, DEVELOPER = content.ROLE_SYSTEM, content.ROLE_DEVELOPER
PNG = b"\x89PNG\r\n\x1a\n-image-bytes"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
PDF = b"%PDF-1.7 tiny"
CREATED = 1_700_000_000


def text(value: str) -> content.Part:
    return content.Part(text=content.TextPart(text=value))


def call(id: str, name: str, arguments: str) -> content.Part:
    return content.Part(tool_call=content.ToolCallPart(id=id, name=name, arguments=arguments))


def result(call_id: str, *texts: str, name: str = "") -> content.Part:
    parts = [text(t) for t in texts]
    return content.Part(
        tool_result=content.ToolResultPart(call_id=call_id, name=name, content=parts)
    )


def msg(role: int, *parts: content.Part, name: str = "") -> content.Message:
    return content.Message(role=role, parts=parts, name=name)  # type: ignore[arg-type]


def body(*messages: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": list(messages), **fields}


def request(*messages: content.Message, **fields: Any) -> gen.GenerateRequest:
    return gen.GenerateRequest(model="gpt-4o", messages=messages, **fields)


HI: Any = {"role": "user", "content": "Hi"}
HI_MSG = msg(USER, text("Hi"))
WEATHER_PARAMS: Any = {"type": "object", "properties": {"city": {"type": "string"}}}


# ------------------------------------------------------------------ decode_request: accepted


DECODE_CASES = [
    pytest.param(
        body(
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "Hi", "name": "ann"},
        ),
        request(
            msg(SYSTEM, text("Be brief.")),
            msg(DEVELOPER, text("Use French.")),
            msg(USER, text("Hi"), name="ann"),
        ),
        id="string-and-text-part-content-keeps-roles-and-name",
    ),
    pytest.param(
        body(
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://x.test/a.jpg", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                ],
            }
        ),
        request(
            msg(
                USER,
                text("What is this?"),
                content.Part(image=content.ImagePart(url="https://x.test/a.jpg", detail="low")),
                content.Part(image=content.ImagePart(data=PNG, media_type="image/png")),
            )
        ),
        id="image-by-url-and-by-data-url",
    ),
    pytest.param(
        body(
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"file_id": "file-abc"}},
                    {
                        "type": "file",
                        "file": {
                            "filename": "a.pdf",
                            "file_data": "data:application/pdf;base64,"
                            + base64.b64encode(PDF).decode(),
                        },
                    },
                    {"type": "file", "file": {"file_data": base64.b64encode(PDF).decode()}},
                    {
                        "type": "input_audio",
                        "input_audio": {
                            "data": base64.b64encode(b"RIFF").decode(),
                            "format": "wav",
                        },
                    },
                ],
            }
        ),
        request(
            msg(
                USER,
                content.Part(file=content.FilePart(file_id="file-abc")),
                content.Part(
                    file=content.FilePart(data=PDF, media_type="application/pdf", filename="a.pdf")
                ),
                content.Part(file=content.FilePart(data=PDF)),
                content.Part(file=content.FilePart(data=b"RIFF", media_type="audio/wav")),
            )
        ),
        id="files-by-id-data-url-plain-base64-and-audio",
    ),
    pytest.param(
        body(
            HI,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "now", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": [{"type": "text", "text": "noon"}, {"type": "text", "text": " UTC"}],
            },
            {"role": "tool", "tool_call_id": "call_from_an_earlier_turn", "content": "ok"},
        ),
        request(
            HI_MSG,
            msg(
                ASSISTANT,
                call("call_1", "get_weather", '{"city": "Paris"}'),
                call("call_2", "now", ""),
            ),
            msg(TOOL, result("call_1", "18C", name="get_weather")),
            msg(TOOL, result("call_2", "noon", " UTC", name="now")),
            msg(TOOL, result("call_from_an_earlier_turn", "ok")),
        ),
        id="tool-calls-verbatim-and-one-tool-message-per-result-named-from-the-call",
    ),
    pytest.param(
        body(
            HI,
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            {"role": "assistant", "content": "Sure.", "refusal": "Not that."},
        ),
        request(
            HI_MSG,
            msg(ASSISTANT, call("c", "f", "{}")),
            msg(ASSISTANT, text("I can't.")),
            msg(ASSISTANT, text("Sure."), text("Not that.")),
        ),
        id="assistant-empty-content-dropped-and-refusals-kept-as-text",
    ),
    pytest.param(
        body(
            HI,
            tools=[
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather now",
                        "parameters": WEATHER_PARAMS,
                        "strict": True,
                    },
                },
                {"type": "function", "function": {"name": "now"}},
            ],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            parallel_tool_calls=False,
        ),
        request(
            HI_MSG,
            tools=[
                gen.Tool(
                    name="get_weather",
                    description="Weather now",
                    parameters_json=compact_json(WEATHER_PARAMS),
                    strict=True,
                ),
                gen.Tool(name="now"),
            ],
            tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="get_weather"),
            config=gen.GenerationConfig(parallel_tool_calls=False),
        ),
        id="function-tools-and-forced-tool-choice",
    ),
    pytest.param(
        body(HI, tools=[{"type": "function", "function": {"name": "f"}}], tool_choice="required"),
        request(
            HI_MSG,
            tools=[gen.Tool(name="f")],
            tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_REQUIRED),
        ),
        id="tool-choice-required",
    ),
    pytest.param(
        body(
            HI,
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "weather",
                    "description": "A report",
                    "schema": {"type": "object", "properties": {"t": {"type": "number"}}},
                    "strict": True,
                },
            },
        ),
        request(
            HI_MSG,
            config=gen.GenerationConfig(
                response_format=gen.ResponseFormat(
                    type=gen.ResponseFormat.TYPE_JSON_SCHEMA,
                    name="weather",
                    description="A report",
                    schema_json='{"type":"object","properties":{"t":{"type":"number"}}}',
                    strict=True,
                )
            ),
        ),
        id="response-format-json-schema",
    ),
    pytest.param(
        body(
            HI,
            max_tokens=50,
            temperature=1,
            top_p=0.5,
            stop="END",
            seed=7,
            reasoning_effort="low",
            metadata={"team": "search"},
            response_format={"type": "json_object"},
        ),
        request(
            HI_MSG,
            config=gen.GenerationConfig(
                max_tokens=50,
                temperature=1.0,
                top_p=0.5,
                stop=["END"],
                seed=7,
                reasoning_effort="low",
                response_format=gen.ResponseFormat(type=gen.ResponseFormat.TYPE_JSON_OBJECT),
            ),
            metadata={"team": "search"},
        ),
        id="generation-config-with-deprecated-max-tokens-and-stop-string",
    ),
    pytest.param(
        body(HI, max_completion_tokens=20, max_tokens=99, stop=["a", "b"], temperature=None),
        request(HI_MSG, config=gen.GenerationConfig(max_tokens=20, stop=["a", "b"])),
        id="max-completion-tokens-wins-and-nulls-are-absent",
    ),
    pytest.param(
        body(
            HI,
            n=1,
            frequency_penalty=0.5,
            logit_bias={"50256": -100},
            user="u-1",
            service_tier="flex",
            logprobs=True,
            top_logprobs=2,
            store=False,
        ),
        request(
            HI_MSG,
            extras=struct_from_dict(
                {
                    "frequency_penalty": 0.5,
                    "logit_bias": {"50256": -100},
                    "user": "u-1",
                    "service_tier": "flex",
                    "logprobs": True,
                    "top_logprobs": 2,
                    "store": False,
                }
            ),
            extras_dialect="openai.chat",
        ),
        id="fields-without-a-canonical-home-kept-as-extras",
    ),
]


@pytest.mark.parametrize(("sent", "want"), DECODE_CASES)
def test_decode_request(sent: dict[str, Any], want: gen.GenerateRequest) -> None:
    decoded = DIALECT.decode_request(sent, {})
    assert decoded.request == want
    assert decoded.stream is False


@pytest.mark.parametrize(
    ("fields", "stream", "include_usage"),
    [
        pytest.param({}, False, False, id="no-stream"),
        pytest.param({"stream": True}, True, False, id="stream-without-usage"),
        pytest.param(
            {"stream": True, "stream_options": {"include_usage": True}}, True, True, id="with-usage"
        ),
    ],
)
def test_decode_request_reads_stream_options(
    fields: dict[str, Any], stream: bool, include_usage: bool
) -> None:
    decoded = DIALECT.decode_request(body(HI, **fields), {})
    assert (decoded.stream, decoded.options["include_usage"]) == (stream, include_usage)
    assert not decoded.request.HasField("extras")


def test_decode_request_reads_what_the_sdk_sends() -> None:
    sent: dict[str, Any] = {}

    def capture(req: httpx2.Request) -> httpx2.Response:
        sent.update(orjson.loads(req.content))
        return httpx2.Response(404, json={"error": {"message": "stop here"}})

    messages: list[ChatCompletionMessageParam] = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this?"},
                {"type": "image_url", "image_url": {"url": PNG_URL, "detail": "high"}},
            ],
        },
    ]
    client = _client(capture)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="gpt-4o",
            messages=messages,
            tools=[{"type": "function", "function": {"name": "f", "parameters": WEATHER_PARAMS}}],
            max_completion_tokens=64,
            frequency_penalty=0.25,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"prompt_cache_key": "k1"},
        )
    decoded = DIALECT.decode_request(sent, {})
    assert decoded.request.messages[1].parts[1].image == content.ImagePart(
        data=PNG, media_type="image/png", detail="high"
    )
    assert decoded.request.tools[0].parameters_json == compact_json(WEATHER_PARAMS)
    assert decoded.request.config.max_tokens == 64
    assert (decoded.stream, decoded.options) == (True, {"include_usage": True})
    extras = dict(decoded.request.extras)
    assert extras == {"frequency_penalty": 0.25, "prompt_cache_key": "k1"}


# ------------------------------------------------------------------ decode_request: rejected


def _user(content_value: Any) -> dict[str, Any]:
    return {"role": "user", "content": content_value}


def _image(url: str) -> dict[str, Any]:
    return _user([{"type": "image_url", "image_url": {"url": url}}])


REJECT_CASES = [
    pytest.param({"messages": [HI]}, "model", id="model-missing"),
    pytest.param({"model": 4, "messages": [HI]}, "model", id="model-not-a-string"),
    pytest.param({"model": "", "messages": [HI]}, "model", id="model-empty"),
    pytest.param({"model": "m"}, "messages", id="messages-missing"),
    pytest.param(body(), "messages", id="messages-empty"),
    pytest.param({"model": "m", "messages": "hi"}, "messages", id="messages-not-an-array"),
    pytest.param(body("hi"), "messages[0]", id="message-not-an-object"),
    pytest.param(body({"content": "x"}), "messages[0].role", id="role-missing"),
    pytest.param(
        body(HI, HI, {"role": "robot", "content": "x"}), "messages[2].role", id="role-unknown"
    ),
    pytest.param(
        body({"role": "function", "content": "x"}), "messages[0].role", id="role-function"
    ),
    pytest.param(body({"role": "user"}), "messages[0].content", id="user-content-missing"),
    pytest.param(body(_user(3)), "messages[0].content", id="user-content-a-number"),
    pytest.param(
        body(_user([{"type": "video"}])), "messages[0].content[0].type", id="part-unknown"
    ),
    pytest.param(body(_user(["hi"])), "messages[0].content[0]", id="part-not-an-object"),
    pytest.param(body(_user([{"type": "text"}])), "messages[0].content[0].text", id="text-missing"),
    pytest.param(
        body(_user([{"type": "image_url"}])), "messages[0].content[0].image_url", id="image-missing"
    ),
    pytest.param(
        body(_image("ftp://x/a.png")), "messages[0].content[0].image_url.url", id="image-url-scheme"
    ),
    pytest.param(
        body(_image("data:image/png;base64,@@@")),
        "messages[0].content[0].image_url.url",
        id="image-data-url-not-base64",
    ),
    pytest.param(
        body(_image("data:image/png,abc")),
        "messages[0].content[0].image_url.url",
        id="image-data-url-not-base64-form",
    ),
    pytest.param(
        body(_user([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "flac"}}])),
        "messages[0].content[0].input_audio.format",
        id="audio-format",
    ),
    pytest.param(
        body(_user([{"type": "file", "file": {"filename": "a.pdf"}}])),
        "messages[0].content[0].file",
        id="file-without-id-or-data",
    ),
    pytest.param(
        body({"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG_URL}}]}),
        "messages[0].content[0].type",
        id="system-with-an-image",
    ),
    pytest.param(
        body(HI, {"role": "tool", "content": "18C"}), "messages[1].tool_call_id", id="tool-call-id"
    ),
    pytest.param(
        body({"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}),
        "messages[0].tool_calls[0].function.name",
        id="tool-call-name-missing",
    ),
    pytest.param(
        body(
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 1}}],
            }
        ),
        "messages[0].tool_calls[0].function.arguments",
        id="tool-call-arguments-a-number",
    ),
    pytest.param(
        body({"role": "assistant", "tool_calls": {"id": "c"}}),
        "messages[0].tool_calls",
        id="tool-calls-not-an-array",
    ),
    pytest.param(
        body({"role": "assistant", "audio": {"id": "audio_1"}}), "messages[0].audio", id="audio-ref"
    ),
    pytest.param(
        body({"role": "assistant", "content": "x", "refusal": 5}),
        "messages[0].refusal",
        id="refusal-not-a-string",
    ),
    pytest.param(body(HI, tools={"type": "function"}), "tools", id="tools-not-an-array"),
    pytest.param(
        body(HI, tools=[{"type": "custom", "custom": {"name": "x"}}]),
        "tools[0].type",
        id="tool-custom",
    ),
    pytest.param(
        body(HI, tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters",
        id="tool-parameters-not-an-object",
    ),
    pytest.param(
        body(HI, tools=[{"type": "function", "function": {"description": "d"}}]),
        "tools[0].function.name",
        id="tool-name-missing",
    ),
    pytest.param(body(HI, tool_choice="maybe"), "tool_choice", id="tool-choice-unknown"),
    pytest.param(
        body(HI, tool_choice={"type": "allowed_tools", "allowed_tools": {}}),
        "tool_choice.type",
        id="tool-choice-allowed-tools",
    ),
    pytest.param(
        body(HI, tool_choice={"type": "function", "function": {}}),
        "tool_choice.function.name",
        id="tool-choice-name-missing",
    ),
    pytest.param(
        body(HI, response_format={"type": "xml"}), "response_format.type", id="format-unknown"
    ),
    pytest.param(
        body(HI, response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        "response_format.json_schema.name",
        id="format-schema-name-missing",
    ),
    pytest.param(body(HI, max_tokens="100"), "max_tokens", id="max-tokens-a-string"),
    pytest.param(body(HI, max_completion_tokens=0), "max_completion_tokens", id="max-tokens-zero"),
    pytest.param(
        body(HI, max_completion_tokens=2**40), "max_completion_tokens", id="max-tokens-huge"
    ),
    pytest.param(body(HI, temperature=True), "temperature", id="temperature-a-boolean"),
    pytest.param(body(HI, top_p="high"), "top_p", id="top-p-a-string"),
    pytest.param(body(HI, seed=1.5), "seed", id="seed-a-float"),
    pytest.param(body(HI, stop=["a", 1]), "stop[1]", id="stop-not-strings"),
    pytest.param(body(HI, stop=5), "stop", id="stop-a-number"),
    pytest.param(body(HI, n=2), "n", id="several-choices"),
    pytest.param(body(HI, metadata={"a": 1}), "metadata.a", id="metadata-value-not-a-string"),
    pytest.param(body(HI, reasoning_effort=3), "reasoning_effort", id="effort-a-number"),
    pytest.param(
        body(HI, parallel_tool_calls="yes"), "parallel_tool_calls", id="parallel-a-string"
    ),
    pytest.param(body(HI, stream="yes"), "stream", id="stream-a-string"),
    pytest.param(
        body(HI, stream=True, stream_options={"include_usage": 1}),
        "stream_options.include_usage",
        id="include-usage-a-number",
    ),
]


@pytest.mark.parametrize(("sent", "param"), REJECT_CASES)
def test_decode_request_rejects_bad_input_naming_the_field(
    sent: dict[str, Any], param: str
) -> None:
    with pytest.raises(RhoneError) as caught:
        DIALECT.decode_request(sent, {})
    failure = caught.value.failure
    assert failure.code == gen.ERROR_CODE_INVALID_REQUEST
    assert failure.param == param
    assert f"'{param}" in failure.message
    status, error = DIALECT.encode_error(failure)
    assert status == 400
    assert error["error"]["param"] == param
    assert error["error"]["type"] == "invalid_request_error"


# What orjson can hand over: 64-bit integers, finite floats.
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_fuzzed_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "developer", "assistant", "tool"]) | _json},
    optional={
        "content": _json
        | st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["text", "image_url", "input_audio", "file", "refusal"])},
                optional={
                    "text": _json,
                    "image_url": _json,
                    "input_audio": _json,
                    "file": _json,
                    "refusal": _json,
                },
            ),
            max_size=3,
        ),
        "tool_calls": _json
        | st.lists(st.dictionaries(st.sampled_from(["id", "type", "function"]), _json)),
        "tool_call_id": _json,
        "name": _json,
        "refusal": _json,
    },
)
_fuzzed_body = st.fixed_dictionaries(
    {"model": st.just("m") | _json, "messages": st.lists(_fuzzed_message, max_size=3) | _json},
    optional={
        key: _json
        for key in (
            "tools",
            "tool_choice",
            "response_format",
            "max_tokens",
            "stop",
            "seed",
            "metadata",
            "stream",
            "stream_options",
            "n",
            "temperature",
            "user",
            "logit_bias",
        )
    },
)


@settings(max_examples=200, deadline=None)
@given(_fuzzed_body)
def test_decode_request_answers_any_body_with_a_request_or_an_invalid_request_error(
    sent: dict[str, Any],
) -> None:
    try:
        DIALECT.decode_request(sent, {})
    except RhoneError as error:
        assert error.failure.code == gen.ERROR_CODE_INVALID_REQUEST
        assert error.failure.param


# ------------------------------------------------------------------ surface stream encoder


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": "chatcmpl-r1",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "gpt-4o-mini",
        "system_fingerprint": None,
        "choices": choices,
        **extra,
    }


FIRST = {"role": "assistant", "content": "", "refusal": None}
USAGE = {
    "prompt_tokens": 14,
    "completion_tokens": 2,
    "total_tokens": 16,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 1},
}
TEXT_EVENTS = [
    canonical.started("r1", "gpt-4o-mini", "openai"),
    canonical.part_started(0, gen.PART_KIND_THINKING),
    canonical.thinking_delta(0, "hmm"),
    canonical.signature_delta(0, "sig"),
    canonical.part_finished(0),
    canonical.part_started(1, gen.PART_KIND_TEXT),
    canonical.text_delta(1, "Hel"),
    canonical.text_delta(1, "lo"),
    canonical.part_finished(1),
    canonical.usage(14, 2, cached_input_tokens=4, reasoning_tokens=1),
    canonical.finished(gen.FINISH_REASON_STOP_SEQUENCE, "END"),
]
TOOL_EVENTS = [
    canonical.started("chatcmpl-r1", "gpt-4o-mini", "anthropic"),
    canonical.part_started(0, gen.PART_KIND_TOOL_CALL, "call_a", "get_weather"),
    canonical.arguments_delta(0, '{"city":'),
    canonical.arguments_delta(0, '"Paris"}'),
    canonical.part_finished(0),
    canonical.part_started(1, gen.PART_KIND_TOOL_CALL, "call_b", "now"),
    canonical.part_finished(1),
    canonical.usage(14, 2, cached_input_tokens=4, reasoning_tokens=1),
    # Gemini says STOP after calling functions; chat clients loop on "tool_calls".
    canonical.finished(gen.FINISH_REASON_STOP),
]
NULL_USAGE = {"usage": None}
STREAM_GOLDEN = [
    pytest.param(
        TEXT_EVENTS,
        {"include_usage": True},
        {"session_id": "s_1"},
        [
            _chunk(FIRST, **NULL_USAGE, rhone={"session_id": "s_1"}),
            _chunk({"content": "Hel"}, **NULL_USAGE),
            _chunk({"content": "lo"}, **NULL_USAGE),
            _chunk({}, "stop", **NULL_USAGE),
            _chunk(None, usage=USAGE),
        ],
        id="text-with-usage-after-finish-and-rhone-in-first-chunk-only",
    ),
    pytest.param(
        TEXT_EVENTS,
        {"include_usage": False},
        {},
        [
            _chunk(FIRST),
            _chunk({"content": "Hel"}),
            _chunk({"content": "lo"}),
            _chunk({}, "stop"),
        ],
        id="text-without-usage-or-rhone",
    ),
    pytest.param(
        TOOL_EVENTS,
        {"include_usage": True},
        {"session_id": "s_1"},
        [
            _chunk(FIRST, **NULL_USAGE, rhone={"session_id": "s_1"}),
            _chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ]
                },
                **NULL_USAGE,
            ),
            _chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}, **NULL_USAGE
            ),
            _chunk(
                {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, **NULL_USAGE
            ),
            _chunk(
                {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "now", "arguments": ""},
                        }
                    ]
                },
                **NULL_USAGE,
            ),
            _chunk({}, "tool_calls", **NULL_USAGE),
            _chunk(None, usage=USAGE),
        ],
        id="parallel-tool-calls-numbered-from-zero",
    ),
]


def _encode_stream(
    events: Iterable[gen.GenerationEvent],
    options: dict[str, Any],
    rhone_meta: dict[str, Any] | None = None,
) -> list[StreamItem]:
    decoded = DecodedCall(request=gen.GenerateRequest(), stream=True, options=options)
    encoder = ChatStreamEncoder(decoded, rhone_meta or {}, clock=lambda: CREATED + 0.9)
    items = [item for event in events for item in encoder.encode(event)]
    return items + encoder.close()


@pytest.mark.parametrize(("events", "options", "rhone_meta", "want"), STREAM_GOLDEN)
def test_stream_encoder_golden(
    events: list[gen.GenerationEvent],
    options: dict[str, Any],
    rhone_meta: dict[str, Any],
    want: list[dict[str, Any]],
) -> None:
    items = _encode_stream(events, options, rhone_meta)
    assert items[-1] == StreamItem(b"[DONE]")
    assert all(item.event is None for item in items)
    assert [orjson.loads(item.data) for item in items[:-1]] == want
    for item in items[:-1]:
        ChatCompletionChunk.model_validate_json(item.data)


def test_stream_encoder_from_the_dialect_fixes_created_at_start() -> None:
    decoded = DIALECT.decode_request(body(HI, stream=True), {})
    encoder = DIALECT.stream_encoder(decoded, {})
    items = [item for event in TEXT_EVENTS for item in encoder.encode(event)] + encoder.close()
    chunks = [orjson.loads(item.data) for item in items[:-1]]
    assert {chunk["created"] for chunk in chunks} == {chunks[0]["created"]}
    assert isinstance(chunks[0]["created"], int)
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-r1"}


def test_stream_encoder_failure_is_an_error_chunk_then_done() -> None:
    failure = make_failure(gen.ERROR_CODE_RATE_LIMITED, "Slow down.", detail="rate_limit_exceeded")
    events = [*TEXT_EVENTS[:7], canonical.failed(failure), *TEXT_EVENTS[7:]]
    items = _encode_stream(events, {"include_usage": True})
    assert orjson.loads(items[-2].data) == {
        "error": {
            "message": "Slow down.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert items[-1] == StreamItem(b"[DONE]")
    assert len(items) == 4  # first chunk, "Hel", the error, [DONE]


def _call_triples(calls: Iterable[Any] | None) -> list[tuple[str, str, str]]:
    return [(c.id, c.function.name, c.function.arguments) for c in calls or []]


def _client(handler: Callable[[httpx2.Request], httpx2.Response]) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://rhone.test/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def _serve_stream(events: list[gen.GenerationEvent]) -> Callable[[httpx2.Request], httpx2.Response]:
    """A Rhone stand-in: decode what the SDK sent, encode the events as the answer."""

    def handler(req: httpx2.Request) -> httpx2.Response:
        decoded = DIALECT.decode_request(orjson.loads(req.content), {})
        encoder = DIALECT.stream_encoder(decoded, {"session_id": "s_1"})
        items = [item for event in events for item in encoder.encode(event)] + encoder.close()
        frames = b"".join(sse_frame(item) for item in items)
        return httpx2.Response(200, content=frames, headers={"content-type": "text/event-stream"})

    return handler


def test_sdk_stream_helper_accumulates_a_tool_call_answer() -> None:
    client = _client(_serve_stream(TOOL_EVENTS))
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=[HI], stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert _call_triples(choice.message.tool_calls) == [
        ("call_a", "get_weather", '{"city":"Paris"}'),
        ("call_b", "now", ""),
    ]
    assert final.usage is not None and final.usage.total_tokens == 16
    assert final.model_extra == {"rhone": {"session_id": "s_1"}}


def test_sdk_stream_state_accumulates_a_text_answer() -> None:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for item in _encode_stream(TEXT_EVENTS, {"include_usage": True})[:-1]:
        state.handle_chunk(ChatCompletionChunk.model_validate_json(item.data))
    final = state.get_final_completion()
    assert (final.choices[0].message.content, final.choices[0].finish_reason) == ("Hello", "stop")
    assert final.usage is not None and final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 4


def test_sdk_raises_on_a_mid_stream_error_chunk() -> None:
    failure = make_failure(gen.ERROR_CODE_OVERLOADED, "Upstream is overloaded.")
    client = _client(_serve_stream([*TEXT_EVENTS[:7], canonical.failed(failure)]))
    seen: list[str | None] = []
    with pytest.raises(openai.APIError, match="Upstream is overloaded"):
        for chunk in client.chat.completions.create(model="m", messages=[HI], stream=True):
            seen.extend(choice.delta.content for choice in chunk.choices)
    assert seen == ["", "Hel"]


# ------------------------------------------------------------------ encode_response


def _response(*parts: content.Part, reason: int = gen.FINISH_REASON_STOP) -> gen.GenerateResponse:
    return gen.GenerateResponse(
        id="r9",
        model="gpt-4o",
        provider="anthropic",
        message=msg(ASSISTANT, *parts),
        usage=gen.Usage(input_tokens=10, output_tokens=5, cache_creation_input_tokens=3),
        finish_reason=reason,  # type: ignore[arg-type]
    )


ENCODE_RESPONSE_CASES = [
    pytest.param(
        _response(content.Part(thinking=content.ThinkingPart(text="hmm")), text("Hel"), text("lo")),
        "Hello",
        None,
        "stop",
        id="text-joined-thinking-dropped",
    ),
    pytest.param(
        _response(call("c1", "f", "{}")), None, [("c1", "f", "{}")], "tool_calls", id="tool-only"
    ),
    pytest.param(
        _response(text("Checking."), call("c1", "f", "{}"), reason=gen.FINISH_REASON_STOP),
        "Checking.",
        [("c1", "f", "{}")],
        "tool_calls",
        id="stop-after-calls-reads-as-tool-calls",
    ),
    pytest.param(_response(reason=gen.FINISH_REASON_LENGTH), "", None, "length", id="empty-length"),
    pytest.param(
        _response(text("No."), reason=gen.FINISH_REASON_REFUSAL),
        "No.",
        None,
        "content_filter",
        id="refusal-is-content-filter",
    ),
]


@pytest.mark.parametrize(("response", "content_text", "calls", "finish"), ENCODE_RESPONSE_CASES)
def test_encode_response_is_a_chat_completion(
    response: gen.GenerateResponse,
    content_text: str | None,
    calls: list[tuple[str, str, str]] | None,
    finish: str,
) -> None:
    encoded = DIALECT.encode_response(response, {"session_id": "s_1"})
    completion = ChatCompletion.model_validate(orjson.loads(orjson.dumps(encoded)))
    choice = completion.choices[0]
    assert completion.id == "chatcmpl-r9"
    assert completion.object == "chat.completion"
    assert isinstance(completion.created, int)
    assert choice.message.content == content_text
    assert _call_triples(choice.message.tool_calls) == (calls or [])
    assert "tool_calls" in encoded["choices"][0]["message"] or calls is None
    assert choice.finish_reason == finish
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 5)
    assert completion.usage.total_tokens == 15
    assert completion.model_extra == {"rhone": {"session_id": "s_1"}}


def test_encode_response_without_rhone_meta_has_no_rhone_key() -> None:
    assert "rhone" not in DIALECT.encode_response(_response(text("x")), {})


# ------------------------------------------------------------------ errors


ERROR_CASES = [
    ("INVALID_REQUEST", "", 400, "invalid_request_error", openai.BadRequestError),
    ("AUTHENTICATION", "invalid_api_key", 401, "authentication_error", openai.AuthenticationError),
    ("PERMISSION", "", 403, "permission_error", openai.PermissionDeniedError),
    ("NOT_FOUND", "model_not_found", 404, "invalid_request_error", openai.NotFoundError),
    ("CONFLICT", "session_busy", 409, "invalid_request_error", openai.ConflictError),
    ("REQUEST_TOO_LARGE", "", 413, "invalid_request_error", openai.APIStatusError),
    ("RATE_LIMITED", "rate_limit_exceeded", 429, "rate_limit_error", openai.RateLimitError),
    ("RATE_LIMITED", "insufficient_quota", 429, "insufficient_quota", openai.RateLimitError),
    ("INTERNAL", "", 500, "server_error", openai.InternalServerError),
    ("OVERLOADED", "", 503, "server_error", openai.InternalServerError),
    ("TIMEOUT", "", 504, "server_error", openai.InternalServerError),
    ("UNAVAILABLE", "", 503, "server_error", openai.InternalServerError),
    ("CANCELLED", "", 499, "invalid_request_error", openai.APIStatusError),
]


@pytest.mark.parametrize(("code", "detail", "status", "kind", "exception"), ERROR_CASES)
def test_encode_error_reaches_the_sdk_as_its_exception(
    code: str, detail: str, status: int, kind: str, exception: type[openai.APIStatusError]
) -> None:
    failure = make_failure(
        gen.ErrorCode.Value("ERROR_CODE_" + code),
        "Something specific.",
        detail=detail,
        param="model",
    )
    got_status, error_body = DIALECT.encode_error(failure)
    assert got_status == status
    assert error_body == {
        "error": {
            "message": "Something specific.",
            "type": kind,
            "param": "model",
            "code": detail or None,
        }
    }
    client = _client(lambda _: httpx2.Response(got_status, json=error_body))
    with pytest.raises(exception) as caught:
        client.chat.completions.create(model="m", messages=[HI])
    assert type(caught.value) is exception
    assert caught.value.status_code == status
    assert (caught.value.type, caught.value.code, caught.value.param) == (
        kind,
        detail or None,
        "model",
    )


def test_encode_error_uses_the_failures_http_status() -> None:
    failure = make_failure(gen.ERROR_CODE_INVALID_REQUEST, "Bad schema.", http_status=422)
    assert DIALECT.encode_error(failure) == (
        422,
        {
            "error": {
                "message": "Bad schema.",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    )


DECODE_ERROR_CASES = [
    pytest.param(
        404,
        b'{"error":{"message":"The model `x` does not exist","type":"invalid_request_error",'
        b'"param":"model","code":"model_not_found"}}',
        make_failure(
            gen.ERROR_CODE_NOT_FOUND,
            "The model `x` does not exist",
            detail="model_not_found",
            param="model",
            http_status=404,
            retryable=False,
        ),
        id="openai-envelope",
    ),
    pytest.param(
        429,
        b'{"error":{"message":"Rate limit reached","type":"requests","param":null,'
        b'"code":"rate_limit_exceeded"}}',
        make_failure(
            gen.ERROR_CODE_RATE_LIMITED,
            "Rate limit reached",
            detail="rate_limit_exceeded",
            http_status=429,
            retryable=True,
        ),
        id="rate-limit-retryable",
    ),
    pytest.param(
        409,
        b'{"error":{"message":"busy"}}',
        make_failure(gen.ERROR_CODE_CONFLICT, "busy", http_status=409, retryable=True),
        id="conflict-retryable",
    ),
    pytest.param(
        502,
        b"<html>Bad Gateway</html>",
        make_failure(
            gen.ERROR_CODE_INTERNAL, "<html>Bad Gateway</html>", http_status=502, retryable=True
        ),
        id="not-json-keeps-the-text",
    ),
    pytest.param(
        400,
        b'{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400,'
        b'"error":{"message":"context too long","type":"BadRequestError","code":400}}',
        make_failure(
            gen.ERROR_CODE_INVALID_REQUEST, "context too long", http_status=400, retryable=False
        ),
        id="numeric-code-from-a-compatible-server",
    ),
    pytest.param(
        503,
        b"",
        make_failure(
            gen.ERROR_CODE_UNAVAILABLE,
            "The upstream returned an error.",
            http_status=503,
            retryable=True,
        ),
        id="empty-body",
    ),
    pytest.param(
        400,
        b'{"error":"model is required"}',
        make_failure(
            gen.ERROR_CODE_INVALID_REQUEST, "model is required", http_status=400, retryable=False
        ),
        id="string-error",
    ),
]


@pytest.mark.parametrize(("status", "raw", "want"), DECODE_ERROR_CASES)
def test_decode_error(status: int, raw: bytes, want: gen.Failure) -> None:
    assert DIALECT.decode_error(status, raw) == want


def test_decode_error_reads_what_encode_error_writes() -> None:
    failure = make_failure(
        gen.ERROR_CODE_NOT_FOUND, "No session.", detail="session_not_found", param="rhone"
    )
    status, error_body = DIALECT.encode_error(failure)
    decoded = DIALECT.decode_error(status, orjson.dumps(error_body))
    assert (decoded.code, decoded.message, decoded.detail, decoded.param) == (
        failure.code,
        failure.message,
        failure.detail,
        failure.param,
    )


# ------------------------------------------------------------------ upstream: encode_request


def _encode(req: gen.GenerateRequest, stream: bool = False) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(DIALECT.encode_request(req, stream)))


def test_encode_request_streams_with_usage_and_max_completion_tokens() -> None:
    req = request(HI_MSG, config=gen.GenerationConfig(max_tokens=100, top_k=5, thinking_budget=9))
    assert _encode(req, stream=True) == {
        "model": "gpt-4o",
        "messages": [HI],
        "max_completion_tokens": 100,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("dialect", "sent"),
    [
        pytest.param("openai.chat", {"user": "u-1", "logit_bias": {"1": -100}}, id="same-dialect"),
        pytest.param("anthropic.messages", {}, id="other-dialect"),
    ],
)
def test_encode_request_passes_extras_only_to_their_own_dialect(
    dialect: str, sent: dict[str, Any]
) -> None:
    extras = struct_from_dict({"user": "u-1", "logit_bias": {"1": -100}, "model": "not-this"})
    encoded = _encode(request(HI_MSG, extras=extras, extras_dialect=dialect))
    assert encoded == {"model": "gpt-4o", "messages": [HI], **sent}


def test_encode_request_maps_canonical_content_onto_chat_messages() -> None:
    req = request(
        msg(SYSTEM, text("Be brief.")),
        msg(
            USER,
            text("Look:"),
            content.Part(image=content.ImagePart(data=PNG, media_type="image/png")),
            content.Part(file=content.FilePart(text="A note.", title="note")),
        ),
        msg(
            ASSISTANT,
            content.Part(
                thinking=content.ThinkingPart(text="hmm", signature="s", origin="anthropic")
            ),
            call("c1", "f", '{"a":1}'),
            call("c2", "g", "{}"),
        ),
        msg(TOOL, result("c1", "one", name="f"), result("c2", "two", "three", name="g")),
        tools=[gen.Tool(name="f", parameters_json='{"type":"object"}'), gen.Tool(name="g")],
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_AUTO),
        config=gen.GenerationConfig(
            parallel_tool_calls=True,
            response_format=gen.ResponseFormat(
                type=gen.ResponseFormat.TYPE_JSON_SCHEMA, schema_json='{"type":"object"}'
            ),
        ),
    )
    assert _encode(req) == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": PNG_URL}},
                    {"type": "text", "text": "A note."},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a":1}'},
                    },
                    {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {
                "role": "tool",
                "tool_call_id": "c2",
                "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}],
            },
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "g"}},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": {"type": "object"}},
        },
    }


def test_encode_request_sends_tool_choice_only_with_tools() -> None:
    req = request(
        HI_MSG,
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_NONE),
        config=gen.GenerationConfig(parallel_tool_calls=False),
    )
    assert _encode(req) == {"model": "gpt-4o", "messages": [HI]}


def test_encode_request_refuses_a_file_by_url() -> None:
    req = request(msg(USER, content.Part(file=content.FilePart(url="https://x.test/a.pdf"))))
    with pytest.raises(RhoneError) as caught:
        DIALECT.encode_request(req, False)
    assert caught.value.failure.param == "messages[0].content[0]"


# ------------------------------------------------------------------ upstream: stream decoder


def _assert_canonical_order(events: list[gen.GenerationEvent]) -> None:
    """started; parts 0, 1, 2... each started, deltas, finished; at most one usage; finished."""
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[0] == "started" and kinds.count("started") == 1
    assert kinds[-1] in ("finished", "failure")
    assert kinds.count("usage") <= 1
    if "usage" in kinds:
        assert kinds.index("usage") == len(kinds) - 2
    next_index, open_index = 0, None
    for event, kind in zip(events, kinds, strict=True):
        if kind == "part_started":
            assert open_index is None and event.part_started.index == next_index
            open_index, next_index = next_index, next_index + 1
        elif kind == "part_delta":
            assert event.part_delta.index < next_index
        elif kind == "part_finished":
            assert event.part_finished.index == open_index
            open_index = None
        elif kind in ("usage", "finished"):
            assert open_index is None


def _upstream(*chunks: dict[str, Any], close: bool = True) -> list[gen.GenerationEvent]:
    decoder = DIALECT.stream_decoder()
    events = [event for chunk in chunks for event in decoder.feed(None, chunk)]
    return events + decoder.close() if close else events


def _up(
    delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An upstream chunk, shaped like OpenAI's recorded ones."""
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": choices,
        **extra,
    }


UP_USAGE = {
    "prompt_tokens": 44,
    "completion_tokens": 16,
    "total_tokens": 60,
    "prompt_tokens_details": {"cached_tokens": 8},
    "completion_tokens_details": {"reasoning_tokens": 3},
}
START = canonical.started("chatcmpl-up", "gpt-4o-2024-08-06", "openai")
CANONICAL_USAGE = canonical.usage(44, 16, cached_input_tokens=8, reasoning_tokens=3)


def test_stream_decoder_text_waits_for_the_usage_chunk_before_finishing() -> None:
    decoder = DIALECT.stream_decoder()
    assert decoder.feed(None, _up({"role": "assistant", "content": "", "refusal": None})) == [START]
    assert decoder.feed(None, _up({"content": "Hel"})) == [
        canonical.part_started(0, gen.PART_KIND_TEXT),
        canonical.text_delta(0, "Hel"),
    ]
    assert decoder.feed(None, _up({"content": "lo"})) == [canonical.text_delta(0, "lo")]
    assert decoder.feed(None, _up({}, "stop")) == [canonical.part_finished(0)]
    assert decoder.feed(None, _up(None, usage=UP_USAGE)) == [
        CANONICAL_USAGE,
        canonical.finished(gen.FINISH_REASON_STOP),
    ]
    assert decoder.close() == []


def test_stream_decoder_recorded_tool_call_stream() -> None:
    # Structure of openai-python's recorded capture (docs/protocols/openai-chat.md#streaming):
    # id/name in the first delta with content null, then argument fragments, then an empty delta
    # with the finish reason.
    first_call = {
        "index": 0,
        "id": "call_4X",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    events = _upstream(
        _up({"role": "assistant", "content": None, "tool_calls": [first_call], "refusal": None}),
        _up({"tool_calls": [{"index": 0, "function": {"arguments": '{"'}}]}),
        _up({"tool_calls": [{"index": 0, "function": {"arguments": 'city":"Paris"}'}}]}),
        _up(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_5Y",
                        "type": "function",
                        "function": {"name": "now", "arguments": "{}"},
                    }
                ]
            }
        ),
        _up({}, "tool_calls"),
        _up(None, usage=UP_USAGE),
    )
    assert events == [
        START,
        canonical.part_started(0, gen.PART_KIND_TOOL_CALL, "call_4X", "get_weather"),
        canonical.arguments_delta(0, '{"'),
        canonical.arguments_delta(0, 'city":"Paris"}'),
        canonical.part_finished(0),
        canonical.part_started(1, gen.PART_KIND_TOOL_CALL, "call_5Y", "now"),
        canonical.arguments_delta(1, "{}"),
        canonical.part_finished(1),
        CANONICAL_USAGE,
        canonical.finished(gen.FINISH_REASON_TOOL_CALLS),
    ]


UPSTREAM_CASES = [
    pytest.param(
        [_up({"role": "assistant", "content": "Hi"}), _up({}, "length")],
        [
            START,
            canonical.part_started(0, gen.PART_KIND_TEXT),
            canonical.text_delta(0, "Hi"),
            canonical.part_finished(0),
            canonical.finished(gen.FINISH_REASON_LENGTH),
        ],
        id="no-usage-chunk-finishes-on-close",
    ),
    pytest.param(
        [_up({"content": "Hi"}, "stop", usage=UP_USAGE)],
        [
            START,
            canonical.part_started(0, gen.PART_KIND_TEXT),
            canonical.text_delta(0, "Hi"),
            canonical.part_finished(0),
            CANONICAL_USAGE,
            canonical.finished(gen.FINISH_REASON_STOP),
        ],
        id="usage-in-the-finish-chunk",
    ),
    pytest.param(
        [
            _up({"reasoning_content": "Think"}),
            _up({"content": "A"}),
            _up(
                {
                    "tool_calls": [
                        {"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}
                    ]
                }
            ),
            _up({"content": "B"}),
            _up({}, "tool_calls"),
            _up(None),
        ],
        [
            START,
            canonical.part_started(0, gen.PART_KIND_THINKING),
            canonical.thinking_delta(0, "Think"),
            canonical.part_finished(0),
            canonical.part_started(1, gen.PART_KIND_TEXT),
            canonical.text_delta(1, "A"),
            canonical.part_finished(1),
            canonical.part_started(2, gen.PART_KIND_TOOL_CALL, "c", "f"),
            canonical.arguments_delta(2, "{}"),
            canonical.part_finished(2),
            canonical.part_started(3, gen.PART_KIND_TEXT),
            canonical.text_delta(3, "B"),
            canonical.part_finished(3),
            canonical.finished(gen.FINISH_REASON_TOOL_CALLS),
        ],
        id="reasoning-text-tool-text-numbered-across-kinds",
    ),
    pytest.param(
        [_up({"content": None, "refusal": "I can't help."}), _up({}, "stop")],
        [
            START,
            canonical.part_started(0, gen.PART_KIND_TEXT),
            canonical.text_delta(0, "I can't help."),
            canonical.part_finished(0),
            canonical.finished(gen.FINISH_REASON_REFUSAL),
        ],
        id="refusal-is-text-and-finishes-as-refusal",
    ),
    pytest.param(
        [
            _up({"content": "Hi"}),
            {
                "error": {
                    "message": "Overloaded",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
            _up({"content": "ignored"}),
        ],
        [
            START,
            canonical.part_started(0, gen.PART_KIND_TEXT),
            canonical.text_delta(0, "Hi"),
            canonical.failed(make_failure(gen.ERROR_CODE_INTERNAL, "Overloaded")),
        ],
        id="error-chunk-is-a-failure-and-ends-the-stream",
    ),
    pytest.param(
        [_up({"content": "Hi"})],
        [
            START,
            canonical.part_started(0, gen.PART_KIND_TEXT),
            canonical.text_delta(0, "Hi"),
        ],
        id="cut-short-leaves-the-ending-to-the-caller",
    ),
]


@pytest.mark.parametrize(("chunks", "want"), UPSTREAM_CASES)
def test_stream_decoder(chunks: list[dict[str, Any]], want: list[gen.GenerationEvent]) -> None:
    events = _upstream(*chunks)
    assert events == want
    if events[-1].WhichOneof("event") in ("finished", "failure"):
        _assert_canonical_order(events)


# ------------------------------------------------------------------ upstream: decode_response


def test_decode_response_recorded_body() -> None:
    recorded = {
        "id": "chatcmpl-ABfv",
        "object": "chat.completion",
        "created": 1727346142,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 14,
            "completion_tokens": 37,
            "total_tokens": 51,
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": "fp_b40fb1c6fb",
    }
    assert DIALECT.decode_response(recorded) == gen.GenerateResponse(
        id="chatcmpl-ABfv",
        model="gpt-4o-2024-08-06",
        provider="openai",
        message=msg(ASSISTANT, text("Let me check."), call("call_1", "f", "{}")),
        usage=gen.Usage(input_tokens=14, output_tokens=37),
        finish_reason=gen.FINISH_REASON_TOOL_CALLS,
    )


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        pytest.param({"id": "x", "choices": []}, gen.ERROR_CODE_INTERNAL, id="no-choices"),
        pytest.param(
            {"error": {"message": "slow", "type": "rate_limit_error"}},
            gen.ERROR_CODE_RATE_LIMITED,
            id="error-envelope-with-200",
        ),
    ],
)
def test_decode_response_raises_on_an_answer_without_a_choice(
    answer: dict[str, Any], code: int
) -> None:
    with pytest.raises(RhoneError) as caught:
        DIALECT.decode_response(answer)
    assert caught.value.failure.code == code


# ------------------------------------------------------------------ round trips (hypothesis)

_ident = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=12
)
_words = st.text(max_size=20)
_nonempty_words = st.text(min_size=1, max_size=20)
_json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _words
)
_json_object = st.dictionaries(
    _words,
    st.recursive(_json_scalar, lambda inner: st.lists(inner, max_size=2), max_leaves=4),
    max_size=3,
)
_CALL_IDS = ["call_1", "call_2", "call_3"]


@st.composite
def _user_part(draw: st.DrawFn) -> content.Part:
    kind = draw(
        st.sampled_from(["text", "image_url", "image_data", "file_id", "file_data", "audio"])
    )
    data = draw(st.binary(min_size=1, max_size=16))
    if kind == "text":
        return text(draw(_words))
    if kind == "image_url":
        detail = draw(st.sampled_from(["", "auto", "low", "high"]))
        return content.Part(
            image=content.ImagePart(url="https://x.test/" + draw(_ident), detail=detail)
        )
    if kind == "image_data":
        media_type = draw(st.sampled_from(["image/png", "image/jpeg", "image/webp"]))
        return content.Part(image=content.ImagePart(data=data, media_type=media_type))
    if kind == "file_id":
        return content.Part(
            file=content.FilePart(file_id="file-" + draw(_ident), filename=draw(_words))
        )
    if kind == "file_data":
        return content.Part(
            file=content.FilePart(data=data, media_type="application/pdf", filename=draw(_words))
        )
    media_type = draw(st.sampled_from(["audio/wav", "audio/mp3"]))
    return content.Part(file=content.FilePart(data=data, media_type=media_type))


def _texts(
    min_size: int, max_size: int, words: st.SearchStrategy[str] = _words
) -> st.SearchStrategy[list[content.Part]]:
    return st.lists(words.map(text), min_size=min_size, max_size=max_size)


_call = st.builds(call, st.sampled_from(_CALL_IDS) | _ident, _ident, _words)
_name = st.sampled_from(["", "ann"])
_instructions = st.builds(
    lambda role, parts, name: msg(role, *parts, name=name),
    st.sampled_from([SYSTEM, DEVELOPER]),
    _texts(1, 3),
    _name,
)
_user_message = st.builds(
    lambda parts, name: msg(USER, *parts, name=name),
    st.lists(_user_part(), min_size=1, max_size=4),
    _name,
)
_assistant = st.builds(
    lambda texts, calls, name: msg(ASSISTANT, *texts, *calls, name=name),
    _texts(0, 2, _nonempty_words),
    st.lists(_call, max_size=3),
    _name,
)
_tool_message = st.builds(
    lambda call_id, texts: msg(TOOL, result(call_id, *texts)),
    st.sampled_from(_CALL_IDS) | _ident,
    st.lists(_words, min_size=1, max_size=2),
)


def _name_tool_results(messages: list[content.Message]) -> list[content.Message]:
    """A tool result names the tool of the latest earlier call with its id, as a chat body
    tells it; a call the body does not show leaves the name empty."""
    names: dict[str, str] = {}
    for message in messages:
        for part in message.parts:
            if part.HasField("tool_call"):
                names[part.tool_call.id] = part.tool_call.name
            elif part.HasField("tool_result"):
                part.tool_result.name = names.get(part.tool_result.call_id, "")
    return messages


_tool = st.builds(
    lambda name, description, parameters, strict: gen.Tool(
        name=name,
        description=description,
        parameters_json=compact_json(parameters) if parameters is not None else "",
        **({} if strict is None else {"strict": strict}),
    ),
    _ident,
    _words,
    st.none() | _json_object,
    st.none() | st.booleans(),
)
_response_format = st.one_of(
    st.sampled_from([gen.ResponseFormat.TYPE_TEXT, gen.ResponseFormat.TYPE_JSON_OBJECT]).map(
        lambda kind: gen.ResponseFormat(type=kind)
    ),
    st.builds(
        lambda name, description, schema, strict: gen.ResponseFormat(
            type=gen.ResponseFormat.TYPE_JSON_SCHEMA,
            name=name,
            description=description,
            schema_json=compact_json(schema) if schema is not None else "",
            **({} if strict is None else {"strict": strict}),
        ),
        _ident,
        _words,
        st.none() | _json_object,
        st.none() | st.booleans(),
    ),
)
_CONSUMED_NAMES = {
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "max_completion_tokens",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "reasoning_effort",
    "metadata",
    "stream",
    "stream_options",
    "n",
}
_finite = st.floats(allow_nan=False, allow_infinity=False)
_MODES = [
    gen.ToolChoice.MODE_AUTO,
    gen.ToolChoice.MODE_NONE,
    gen.ToolChoice.MODE_REQUIRED,
    gen.ToolChoice.MODE_TOOL,
]


@st.composite
def chat_requests(draw: st.DrawFn) -> gen.GenerateRequest:
    """GenerateRequests in chat's expressible subset: no thinking, no top_k or budgets, one
    result per tool message, text before calls on assistant turns, tool options only with
    tools, non-empty user and instruction content."""
    messages = draw(
        st.lists(
            st.one_of(_instructions, _user_message, _assistant, _tool_message),
            min_size=1,
            max_size=6,
        )
    )
    req = gen.GenerateRequest(model=draw(_ident), messages=_name_tool_results(messages))
    req.tools.extend(draw(st.lists(_tool, max_size=3)))
    config = req.config
    if req.tools:
        mode = draw(st.sampled_from([None, *_MODES]))
        if mode is not None:
            req.tool_choice.mode = mode
            if mode == gen.ToolChoice.MODE_TOOL:
                req.tool_choice.name = req.tools[0].name
        if draw(st.booleans()):
            config.parallel_tool_calls = draw(st.booleans())
    optional = {
        "max_tokens": st.integers(min_value=1, max_value=2**31 - 1),
        "temperature": _finite,
        "top_p": _finite,
        "seed": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "reasoning_effort": st.sampled_from(["minimal", "low", "high"]),
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            setattr(config, field, draw(strategy))
    stop = draw(st.lists(_words, max_size=4))
    if stop:
        config.stop.extend(stop)
    if draw(st.booleans()):
        config.response_format.CopyFrom(draw(_response_format))
    req.metadata.update(draw(st.dictionaries(_ident, _words, max_size=3)))
    extras = draw(
        st.dictionaries(
            _ident.filter(lambda k: k not in _CONSUMED_NAMES),
            _json_object | _json_scalar,
            max_size=3,
        )
    )
    if extras:
        req.extras.CopyFrom(struct_from_dict(extras))
        req.extras_dialect = "openai.chat"
    return req


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(chat_requests())
def test_request_round_trips_through_the_chat_wire(req: gen.GenerateRequest) -> None:
    wire = orjson.loads(orjson.dumps(DIALECT.encode_request(req, False)))
    assert DIALECT.decode_request(wire, {}).request == req


_usage = st.builds(
    gen.Usage,
    input_tokens=st.integers(0, 2**40),
    output_tokens=st.integers(0, 2**40),
    cached_input_tokens=st.integers(0, 2**40),
    cache_creation_input_tokens=st.integers(0, 2**40),
    reasoning_tokens=st.integers(0, 2**40),
)
_reasons = [
    gen.FINISH_REASON_STOP,
    gen.FINISH_REASON_LENGTH,
    gen.FINISH_REASON_TOOL_CALLS,
    gen.FINISH_REASON_CONTENT_FILTER,
]


def _chat_response(parts: list[content.Part], draw: st.DrawFn) -> gen.GenerateResponse:
    """Chat has no "stop" after tool calls (it reads as tool_calls), hence the reason filter."""
    called = any(part.HasField("tool_call") for part in parts)
    reason = draw(
        st.sampled_from([r for r in _reasons if not (called and r == gen.FINISH_REASON_STOP)])
    )
    response = gen.GenerateResponse(
        id=draw(_ident),
        model=draw(_words),
        provider="openai",
        message=msg(ASSISTANT, *parts),
        finish_reason=reason,
    )
    if draw(st.booleans()):
        response.usage.CopyFrom(draw(_usage))
    return response


@st.composite
def chat_responses(draw: st.DrawFn) -> gen.GenerateResponse:
    """One message's content and its calls: chat holds one text and a list of calls."""
    parts = draw(_texts(0, 1, _nonempty_words)) + draw(st.lists(_call, max_size=3))
    response = _chat_response(parts, draw)
    response.id = "chatcmpl-" + response.id
    return response


@FAST
@given(chat_responses())
def test_response_round_trips_through_the_chat_wire(response: gen.GenerateResponse) -> None:
    wire = orjson.loads(orjson.dumps(DIALECT.encode_response(response, {"session_id": "s"})))
    assert DIALECT.decode_response(wire) == response


@st.composite
def chat_streams(draw: st.DrawFn) -> gen.GenerateResponse:
    """A stream can interleave text and calls, but two texts in a row are one chat text."""
    parts: list[content.Part] = []
    for part in draw(st.lists(st.one_of(_nonempty_words.map(text), _call), max_size=5)):
        if not (parts and part.HasField("text") and parts[-1].HasField("text")):
            parts.append(part)
    response = _chat_response(parts, draw)
    response.provider = draw(st.sampled_from(["openai", "anthropic", "gemini"]))
    return response


@FAST
@given(chat_streams(), st.booleans())
def test_stream_round_trips_through_chat_chunks(
    response: gen.GenerateResponse, split: bool
) -> None:
    events = canonical.response_events(response)
    if split:  # several deltas per part, as a real stream has
        events = [piece for event in events for piece in _split_delta(event)]
    decoder = DIALECT.stream_decoder()
    decoded: list[gen.GenerationEvent] = []
    for item in _encode_stream(events, {"include_usage": True}, {"session_id": "s"}):
        if item.data == b"[DONE]":
            decoded += decoder.close()
        else:
            ChatCompletionChunk.model_validate_json(item.data)
            decoded += decoder.feed(None, orjson.loads(item.data))
    _assert_canonical_order(decoded)
    want = canonical.fold_events(events)
    want.id = "chatcmpl-" + want.id
    want.provider = "openai"
    assert canonical.fold_events(decoded) == want


def _split_delta(event: gen.GenerationEvent) -> list[gen.GenerationEvent]:
    delta = event.part_delta
    if event.WhichOneof("event") != "part_delta" or delta.WhichOneof("delta") not in (
        "text",
        "arguments",
    ):
        return [event]
    value = delta.text or delta.arguments
    make = (
        canonical.text_delta if delta.WhichOneof("delta") == "text" else canonical.arguments_delta
    )
    middle = len(value) // 2
    return [make(delta.index, value[:middle]), make(delta.index, value[middle:])]
