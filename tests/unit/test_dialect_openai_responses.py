"""The OpenAI Responses dialect, both directions, proven against openai-python's own types,
stream accumulator and client (docs/protocols/openai-responses.md)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any, cast

import httpx2
import openai
import orjson
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai._models import construct_type, validate_type
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from rhone import canonical as c
from rhone.dialects.base import DecodedCall
from rhone.dialects.openai_responses import DIALECT
from rhone.errors import RhoneError, make_failure
from rhone.jsonutil import compact_json, dict_from_struct, struct_from_dict
from rhone.sse import StreamItem, sse_frame
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

NAME = "openai.responses"
PNG = b"\x89PNG\r\n\x1a\nfake"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def decode(body: dict[str, Any]) -> DecodedCall:
    return DIALECT.decode_request(body, {})


def text(value: str) -> dict[str, Any]:
    return {"text": {"text": value}}


def msg(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": f"ROLE_{role.upper()}", "parts": list(parts)}


# ============================================================================================
# Surface: decode_request
# ============================================================================================

DECODE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "string_input_is_one_user_message",
        {"model": "gpt-5", "input": "Hi"},
        {"model": "gpt-5", "messages": [msg("user", text("Hi"))]},
    ),
    (
        "instructions_become_a_leading_system_message",
        {"model": "m", "instructions": "Be brief.", "input": "Hi"},
        {"model": "m", "messages": [msg("system", text("Be brief.")), msg("user", text("Hi"))]},
    ),
    (
        "easy_and_typed_messages_keep_roles_and_parts",
        {
            "model": "m",
            "input": [
                {"role": "developer", "content": "Use metric units."},
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {
                            "type": "input_image",
                            "image_url": "https://x.test/a.png",
                            "detail": "low",
                        },
                        {"type": "input_image", "image_url": PNG_URL},
                        {"type": "input_image", "file_id": "file-img"},
                        {"type": "input_file", "file_id": "file-doc"},
                        {
                            "type": "input_file",
                            "file_data": "data:application/pdf;base64,JVBERg==",
                            "filename": "a.pdf",
                        },
                        {"type": "input_file", "file_url": "https://x.test/b.pdf"},
                    ],
                },
            ],
        },
        {
            "model": "m",
            "messages": [
                msg("developer", text("Use metric units.")),
                msg(
                    "user",
                    text("What is this?"),
                    {"image": {"url": "https://x.test/a.png", "detail": "low"}},
                    {"image": {"data": base64.b64encode(PNG).decode(), "media_type": "image/png"}},
                    {"file": {"file_id": "file-img", "media_type": "image/*"}},
                    {"file": {"file_id": "file-doc"}},
                    {
                        "file": {
                            "data": "JVBERg==",
                            "media_type": "application/pdf",
                            "filename": "a.pdf",
                        }
                    },
                    {"file": {"url": "https://x.test/b.pdf"}},
                ),
            ],
        },
    ),
    (
        "consecutive_assistant_items_form_one_message_and_outputs_one_tool_message",
        {
            "model": "m",
            "input": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "type": "reasoning",
                    "id": "rs_1",
                    "summary": [
                        {"type": "summary_text", "text": "Two cities."},
                        {"type": "summary_text", "text": "Call twice."},
                    ],
                    "encrypted_content": "ENC",
                },
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_a",
                    "name": "weather",
                    "arguments": '{"city":"Paris"}',
                },
                {
                    "type": "function_call",
                    "call_id": "call_b",
                    "name": "weather",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
                {
                    "type": "function_call_output",
                    "call_id": "call_b",
                    "output": [
                        {"type": "input_text", "text": "21C"},
                        {"type": "input_image", "image_url": "https://x.test/sun.png"},
                    ],
                },
                {"type": "function_call_output", "call_id": "call_unknown", "output": "?"},
            ],
        },
        {
            "model": "m",
            "messages": [
                msg("user", text("Weather in Paris and Rome?")),
                msg(
                    "assistant",
                    {
                        "thinking": {
                            "text": "Two cities.\n\nCall twice.",
                            "signature": "ENC",
                            "origin": "openai",
                        }
                    },
                    text("Checking."),
                    {
                        "tool_call": {
                            "id": "call_a",
                            "name": "weather",
                            "arguments": '{"city":"Paris"}',
                        }
                    },
                    {"tool_call": {"id": "call_b", "name": "weather", "arguments": "{}"}},
                ),
                msg(
                    "tool",
                    {
                        "tool_result": {
                            "call_id": "call_a",
                            "name": "weather",
                            "content": [text("18C")],
                        }
                    },
                    {
                        "tool_result": {
                            "call_id": "call_b",
                            "name": "weather",
                            "content": [text("21C"), {"image": {"url": "https://x.test/sun.png"}}],
                        }
                    },
                    {"tool_result": {"call_id": "call_unknown", "content": [text("?")]}},
                ),
            ],
        },
    ),
    (
        "reasoning_without_summary_uses_reasoning_text_and_empty_reasoning_is_dropped",
        {
            "model": "m",
            "input": [
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "reasoning",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": "raw thought"}],
                },
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
            ],
        },
        {
            "model": "m",
            "messages": [
                msg(
                    "assistant",
                    {"thinking": {"text": "raw thought", "origin": "openai"}},
                    text("I can't."),
                )
            ],
        },
    ),
    (
        "function_and_hosted_tools_with_json_schema_format",
        {
            "model": "m",
            "input": "x",
            "tools": [
                {
                    "type": "function",
                    "name": "weather",
                    "description": "Get weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "strict": False,
                },
                {"type": "function", "name": "noargs"},
                {"type": "web_search"},
            ],
            "tool_choice": {"type": "function", "name": "weather"},
            "parallel_tool_calls": False,
            "max_output_tokens": 256,
            "temperature": 0.5,
            "top_p": 1,
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "answer",
                    "schema": {"type": "object"},
                    "description": "An answer",
                    "strict": True,
                },
                "verbosity": "low",
            },
            "metadata": {"team": "search"},
        },
        {
            "model": "m",
            "messages": [msg("user", text("x"))],
            "tools": [
                {
                    "name": "weather",
                    "description": "Get weather",
                    "parameters_json": '{"type":"object","properties":{"city":{"type":"string"}}}',
                    "strict": False,
                },
                {"name": "noargs"},
            ],
            "tool_choice": {"mode": "MODE_TOOL", "name": "weather"},
            "config": {
                "parallel_tool_calls": False,
                "max_tokens": 256,
                "temperature": 0.5,
                "top_p": 1.0,
                "response_format": {
                    "type": "TYPE_JSON_SCHEMA",
                    "name": "answer",
                    "description": "An answer",
                    "schema_json": '{"type":"object"}',
                    "strict": True,
                },
            },
            "metadata": {"team": "search"},
            "extras": {"tools": [{"type": "web_search"}], "text": {"verbosity": "low"}},
            "extras_dialect": NAME,
        },
    ),
    (
        "reasoning_effort_and_summary_ask_for_thinking",
        {"model": "m", "input": "x", "reasoning": {"effort": "high", "summary": "auto"}},
        {
            "model": "m",
            "messages": [msg("user", text("x"))],
            "config": {"reasoning_effort": "high", "include_thinking": True},
        },
    ),
    (
        "a_summary_style_other_than_auto_rides_in_extras",
        {"model": "m", "input": "x", "reasoning": {"summary": "detailed"}},
        {
            "model": "m",
            "messages": [msg("user", text("x"))],
            "config": {"include_thinking": True},
            "extras": {"reasoning": {"summary": "detailed"}},
            "extras_dialect": NAME,
        },
    ),
    (
        "unknown_fields_and_non_function_tool_choice_go_to_extras",
        {
            "model": "m",
            "input": "x",
            "user": "u-1",
            "truncation": "auto",
            "include": ["reasoning.encrypted_content"],
            "service_tier": "flex",
            "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []},
            "text": {"format": {"type": "json_object"}},
        },
        {
            "model": "m",
            "messages": [msg("user", text("x"))],
            "config": {"response_format": {"type": "TYPE_JSON_OBJECT"}},
            "extras": {
                "user": "u-1",
                "truncation": "auto",
                "include": ["reasoning.encrypted_content"],
                "service_tier": "flex",
                "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []},
            },
            "extras_dialect": NAME,
        },
    ),
    (
        "state_controls_are_not_extras",
        {
            "model": "m",
            "input": "again",
            "previous_response_id": "resp_1",
            "store": False,
            "background": False,
            "stream": True,
        },
        {"model": "m", "messages": [msg("user", text("again"))]},
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"),
    [case[1:] for case in DECODE_CASES],
    ids=[case[0] for case in DECODE_CASES],
)
def test_decode_request_gives_the_canonical_request(
    body: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert as_dict(decode(body).request) == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("none", {"mode": "MODE_NONE"}),
        ("auto", {"mode": "MODE_AUTO"}),
        ("required", {"mode": "MODE_REQUIRED"}),
        ({"type": "function", "name": "f"}, {"mode": "MODE_TOOL", "name": "f"}),
    ],
    ids=["none", "auto", "required", "function"],
)
def test_decode_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert as_dict(decode({"model": "m", "tool_choice": choice}).request.tool_choice) == expected


@pytest.mark.parametrize(
    ("body", "options", "stream"),
    [
        ({"input": "x"}, {"store": True}, False),
        (
            {"input": "x", "previous_response_id": "resp_9", "store": False, "stream": True},
            {"store": False, "previous_response_id": "resp_9"},
            True,
        ),
        (
            {"instructions": "Be nice.", "conversation": "conv_1", "background": True},
            {
                "store": True,
                "instructions": "Be nice.",
                "conversation": "conv_1",
                "background": True,
            },
            False,
        ),
    ],
    ids=["defaults_store_true", "previous_response_and_no_store", "instructions_and_conversation"],
)
def test_decode_request_options(
    body: dict[str, Any], options: dict[str, Any], stream: bool
) -> None:
    decoded = decode(body)
    assert (decoded.options, decoded.stream) == (options, stream)
    assert not decoded.request.extras.fields


BAD_REQUESTS: list[tuple[str, Any, str]] = [
    ("body_not_object", ["x"], "body"),
    ("input_not_list", {"input": 5}, "input"),
    ("item_not_object", {"input": ["x"]}, "input[0]"),
    ("item_without_type_or_role", {"input": [{"content": "x"}]}, "input[0].type"),
    ("unknown_role", {"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ("message_without_content", {"input": [{"role": "user"}]}, "input[0].content"),
    (
        "unknown_content_part",
        {
            "input": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "input_text", "text": "b"}, {"type": "x"}]},
            ]
        },
        "input[1].content[1].type",
    ),
    (
        "text_part_without_text",
        {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
        "input[0].content[0].text",
    ),
    (
        "image_without_source",
        {"input": [{"role": "user", "content": [{"type": "input_image", "detail": "auto"}]}]},
        "input[0].content[0].image_url",
    ),
    (
        "image_data_url_not_base64",
        {
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "data:image/png;base64,@@"}],
                }
            ]
        },
        "input[0].content[0].image_url",
    ),
    (
        "function_call_without_call_id",
        {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
        "input[0].call_id",
    ),
    (
        "function_call_arguments_object",
        {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
        "input[0].arguments",
    ),
    (
        "function_call_output_without_output",
        {"input": [{"type": "function_call_output", "call_id": "c"}]},
        "input[0].output",
    ),
    (
        "reasoning_summary_wrong_type",
        {"input": [{"type": "reasoning", "summary": [{"type": "x", "text": "t"}]}]},
        "input[0].summary[0].type",
    ),
    ("item_reference", {"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ("instructions_not_string", {"instructions": ["x"]}, "instructions"),
    ("tool_without_name", {"tools": [{"type": "function"}]}, "tools[0].name"),
    ("tool_without_type", {"tools": [{"name": "f"}]}, "tools[0].type"),
    (
        "tool_parameters_not_object",
        {"tools": [{"type": "function", "name": "f", "parameters": 1}]},
        "tools[0].parameters",
    ),
    ("tool_choice_unknown", {"tool_choice": "sometimes"}, "tool_choice"),
    (
        "tool_choice_function_without_name",
        {"tool_choice": {"type": "function"}},
        "tool_choice.name",
    ),
    ("format_type_unknown", {"text": {"format": {"type": "yaml"}}}, "text.format.type"),
    (
        "json_schema_without_schema",
        {"text": {"format": {"type": "json_schema", "name": "x"}}},
        "text.format.schema",
    ),
    ("max_output_tokens_string", {"max_output_tokens": "10"}, "max_output_tokens"),
    ("max_output_tokens_too_big", {"max_output_tokens": 2**40}, "max_output_tokens"),
    ("temperature_bool", {"temperature": True}, "temperature"),
    ("metadata_value_not_string", {"metadata": {"k": 1}}, "metadata.k"),
    ("reasoning_effort_not_string", {"reasoning": {"effort": 3}}, "reasoning.effort"),
    ("stream_not_bool", {"stream": "yes"}, "stream"),
    ("store_not_bool", {"store": "no"}, "store"),
]


@pytest.mark.parametrize(
    ("body", "param"), [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS]
)
def test_bad_requests_are_invalid_and_name_the_field(body: Any, param: str) -> None:
    with pytest.raises(RhoneError) as raised:
        DIALECT.decode_request(body, {})
    failure = raised.value.failure
    assert failure.code == gen.ERROR_CODE_INVALID_REQUEST
    assert failure.param == param
    assert param in failure.message or param == "body"


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
_fuzz_keys = st.sampled_from(
    "type role content text call_id name arguments output summary image_url file_data format "
    "schema input tools effort x".split()
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_fuzz_keys, inner, max_size=4),
    max_leaves=12,
)
_type_values = st.sampled_from(
    "message function_call function_call_output reasoning input_text input_image input_file "
    "output_text refusal function json_schema".split()
)
_top_keys = st.sampled_from(
    "model input instructions tools tool_choice text reasoning metadata max_output_tokens "
    "temperature store previous_response_id".split()
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        _top_keys,
        _json | st.lists(st.dictionaries(_fuzz_keys, _json | _type_values, max_size=5), max_size=3),
        max_size=5,
    )
)
def test_any_json_body_decodes_or_is_an_invalid_request(body: dict[str, Any]) -> None:
    try:
        decode(body)
    except RhoneError as exc:
        assert exc.failure.code == gen.ERROR_CODE_INVALID_REQUEST


# ============================================================================================
# Surface: stream_encoder
# ============================================================================================


def encode_stream(
    events: Iterable[gen.GenerationEvent],
    decoded: DecodedCall | None = None,
    meta: dict[str, Any] | None = None,
) -> list[StreamItem]:
    decoded = decoded or decode({"model": "gpt-5", "input": "hi"})
    encoder = DIALECT.stream_encoder(decoded, meta or {})
    items = [item for event in events for item in encoder.encode(event)]
    return items + encoder.close()


def payloads(items: list[StreamItem]) -> list[dict[str, Any]]:
    return [orjson.loads(item.data) for item in items]


TEXT_EVENTS = [
    c.started("abc", "gpt-5", "openai"),
    c.part_started(0, gen.PART_KIND_TEXT),
    c.text_delta(0, "Hel"),
    c.text_delta(0, "lo"),
    c.part_finished(0),
    c.usage(9, 2, cached_input_tokens=4, reasoning_tokens=0),
    c.finished(gen.FINISH_REASON_STOP),
]
TOOL_EVENTS = [
    c.started("resp_x", "gpt-5", "openai"),
    c.part_started(0, gen.PART_KIND_TOOL_CALL, "call_1", "weather"),
    c.arguments_delta(0, '{"city":'),
    c.arguments_delta(0, '"Paris"}'),
    c.part_finished(0),
    c.finished(gen.FINISH_REASON_TOOL_CALLS),
]
REASONING_EVENTS = [
    c.started("abc", "o4", "openai"),
    c.part_started(0, gen.PART_KIND_THINKING),
    c.thinking_delta(0, "Think"),
    c.thinking_delta(0, "ing."),
    c.signature_delta(0, "ENC"),
    c.part_finished(0),
    c.part_started(1, gen.PART_KIND_TEXT),
    c.text_delta(1, "42"),
    c.part_finished(1),
    c.usage(3, 10, reasoning_tokens=8),
    c.finished(gen.FINISH_REASON_STOP),
]


def test_stream_text_golden_events() -> None:
    events = payloads(encode_stream(TEXT_EVENTS, meta={"session_id": "ses_1"}))
    assert [(e["type"], e["sequence_number"]) for e in events] == [
        ("response.created", 0),
        ("response.in_progress", 1),
        ("response.output_item.added", 2),
        ("response.content_part.added", 3),
        ("response.output_text.delta", 4),
        ("response.output_text.delta", 5),
        ("response.output_text.done", 6),
        ("response.content_part.done", 7),
        ("response.output_item.done", 8),
        ("response.completed", 9),
    ]
    created = events[0]["response"]
    assert created["id"] == "resp_abc"
    assert (created["status"], created["output"], created["usage"]) == ("in_progress", [], None)
    assert created["rhone"] == {"session_id": "ses_1"}
    assert events[2]["item"] == {
        "id": "msg_abc_0",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    assert events[3]["part"] == {
        "type": "output_text",
        "text": "",
        "annotations": [],
        "logprobs": [],
    }
    assert {k: events[4][k] for k in ("item_id", "output_index", "content_index", "delta")} == {
        "item_id": "msg_abc_0",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
    }
    assert events[6]["text"] == "Hello"
    assert events[8]["item"]["status"] == "completed"
    assert events[8]["item"]["content"][0]["text"] == "Hello"
    final = events[9]["response"]
    assert final["status"] == "completed"
    assert final["output"] == [events[8]["item"]]
    assert final["usage"] == {
        "input_tokens": 9,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 11,
    }


def test_stream_event_name_equals_json_type() -> None:
    for items in (encode_stream(TEXT_EVENTS), encode_stream(TOOL_EVENTS)):
        assert all(item.event == orjson.loads(item.data)["type"] for item in items)


def test_stream_tool_call_golden_events() -> None:
    events = payloads(encode_stream(TOOL_EVENTS))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["id"] == "resp_x"
    assert events[2]["item"] == {
        "id": "fc_x_0",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "call_1",
        "name": "weather",
        "arguments": "",
    }
    assert events[5]["arguments"] == '{"city":"Paris"}'
    assert events[5]["name"] == "weather"
    assert events[6]["item"]["arguments"] == '{"city":"Paris"}'


def test_stream_reasoning_golden_events() -> None:
    events = payloads(encode_stream(REASONING_EVENTS))
    assert [(e["type"], e.get("output_index")) for e in events] == [
        ("response.created", None),
        ("response.in_progress", None),
        ("response.output_item.added", 0),
        ("response.reasoning_summary_part.added", 0),
        ("response.reasoning_summary_text.delta", 0),
        ("response.reasoning_summary_text.delta", 0),
        ("response.reasoning_summary_text.done", 0),
        ("response.reasoning_summary_part.done", 0),
        ("response.output_item.done", 0),
        ("response.output_item.added", 1),
        ("response.content_part.added", 1),
        ("response.output_text.delta", 1),
        ("response.output_text.done", 1),
        ("response.content_part.done", 1),
        ("response.output_item.done", 1),
        ("response.completed", None),
    ]
    assert events[2]["item"] == {"id": "rs_abc_0", "type": "reasoning", "summary": []}
    assert events[6]["text"] == "Thinking."
    assert events[8]["item"] == {
        "id": "rs_abc_0",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Thinking."}],
        "encrypted_content": "ENC",
    }
    assert events[-1]["response"]["usage"]["output_tokens_details"] == {"reasoning_tokens": 8}


def test_stream_length_finish_is_incomplete() -> None:
    events = [*TEXT_EVENTS[:-1], c.finished(gen.FINISH_REASON_LENGTH)]
    last = payloads(encode_stream(events))[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_failure_mid_part_is_response_failed_and_nothing_follows() -> None:
    failure = make_failure(gen.ERROR_CODE_OVERLOADED, "Upstream overloaded")
    events = [*TEXT_EVENTS[:3], c.failed(failure), *TEXT_EVENTS[3:]]
    out = payloads(encode_stream(events))
    assert out[-1]["type"] == "response.failed"
    response = out[-1]["response"]
    assert response["status"] == "failed"
    assert response["error"] == {"code": "server_error", "message": "Upstream overloaded"}
    assert response["output"][0]["status"] == "incomplete"
    assert [e["type"] for e in out].count("response.failed") == 1


def test_stream_failure_before_start_still_opens_with_response_created() -> None:
    failure = make_failure(gen.ERROR_CODE_RATE_LIMITED, "Slow down")
    out = payloads(encode_stream([c.failed(failure)]))
    assert [e["type"] for e in out] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    assert out[-1]["response"]["error"]["code"] == "rate_limit_exceeded"


def test_stream_uses_the_translators_response_id_and_echoes_the_request() -> None:
    decoded = decode(
        {
            "model": "gpt-5",
            "input": "hi",
            "instructions": "Be brief.",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "tool_choice": "required",
            "temperature": 0.2,
            "max_output_tokens": 50,
            "previous_response_id": "resp_prev",
            "store": False,
            "metadata": {"a": "b"},
            "text": {"format": {"type": "json_object"}},
            "reasoning": {"effort": "low"},
            "user": "u1",
        }
    )
    decoded.options["response_id"] = "resp_fromtranslator"
    created = payloads(encode_stream(TEXT_EVENTS, decoded))[0]["response"]
    assert created["id"] == "resp_fromtranslator"
    echoed = (
        "instructions tool_choice temperature max_output_tokens previous_response_id store "
        "metadata text user parallel_tool_calls".split()
    )
    assert {key: created[key] for key in echoed} == {
        "instructions": "Be brief.",
        "tool_choice": "required",
        "temperature": 0.2,
        "max_output_tokens": 50,
        "previous_response_id": "resp_prev",
        "store": False,
        "metadata": {"a": "b"},
        "text": {"format": {"type": "json_object"}},
        "user": "u1",
        "parallel_tool_calls": True,
    }
    assert created["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}
    ]
    assert created["reasoning"] == {"effort": "low", "summary": None}
    Response.model_validate(created)


def test_redacted_thinking_is_left_out_and_indexes_stay_contiguous() -> None:
    events = [
        c.started("abc", "m", "anthropic"),
        c.part_started(0, gen.PART_KIND_REDACTED_THINKING),
        c.redacted_delta(0, "opaque"),
        c.part_finished(0),
        c.part_started(1, gen.PART_KIND_TEXT),
        c.text_delta(1, "hi"),
        c.part_finished(1),
        c.finished(gen.FINISH_REASON_STOP),
    ]
    out = payloads(encode_stream(events))
    assert [e["output_index"] for e in out if e["type"] == "response.output_item.added"] == [0]
    assert out[-1]["response"]["output"][0]["content"][0]["text"] == "hi"


def test_another_providers_signature_comes_back_with_its_origin_and_never_reaches_openai() -> None:
    events = [
        c.started("abc", "claude-x", "anthropic"),
        c.part_started(0, gen.PART_KIND_THINKING),
        c.thinking_delta(0, "hm"),
        c.signature_delta(0, "SIG"),
        c.part_finished(0),
        c.finished(gen.FINISH_REASON_STOP),
    ]
    output = payloads(encode_stream(events))[-1]["response"]["output"]
    assert output[0]["encrypted_content"] == "rhone:anthropic:SIG"
    items = [{"role": "user", "content": "q"}, *output, {"role": "user", "content": "next"}]
    replay = decode({"model": "m", "input": items}).request
    assert as_dict(replay.messages[1]) == msg(
        "assistant", {"thinking": {"text": "hm", "signature": "SIG", "origin": "anthropic"}}
    )
    upstream = DIALECT.encode_request(replay, False)
    assert [item["type"] for item in upstream["input"]] == ["message", "message"]


# --- PROOF: the official SDK's own accumulator and client ------------------------------------


def sdk_fold(items: list[StreamItem]) -> Any:
    """Runs encoded events through openai-python's `responses.stream()` state machine, after
    strict validation of each event against the SDK's `ResponseStreamEvent` union."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for data in payloads(items):
        validate_type(type_=cast(Any, ResponseStreamEvent), value=data)
        state.handle_event(cast(Any, construct_type(type_=ResponseStreamEvent, value=data)))
    final = state._completed_response
    assert final is not None, "no response.completed"
    return final


def test_sdk_accumulator_reads_text_tool_call_and_reasoning() -> None:
    final = sdk_fold(encode_stream(REASONING_EVENTS))
    assert final.output_text == "42"
    assert final.output[0].type == "reasoning"
    assert final.output[0].encrypted_content == "ENC"
    tool = sdk_fold(encode_stream(TOOL_EVENTS))
    assert [(o.type, o.call_id, o.arguments) for o in tool.output] == [
        ("function_call", "call_1", '{"city":"Paris"}')
    ]


def sdk_client(handler: Any) -> openai.OpenAI:
    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://rhone.test/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
        _strict_response_validation=True,
    )


def test_sdk_responses_stream_helper_gets_the_final_response_over_sse() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = orjson.loads(request.content)
        seen.append(body)
        decoded = DIALECT.decode_request(body, {})
        events = [*REASONING_EVENTS[:-2], *_shift(TOOL_EVENTS[1:5], 2), *REASONING_EVENTS[-2:]]
        frames = b"".join(sse_frame(item) for item in encode_stream(events, decoded, {"s": "1"}))
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=frames)

    client = sdk_client(handler)
    with client.responses.stream(model="o4", input="What is 6x7?") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert seen[0]["stream"] is True
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == "42"
    call = final.output[2]
    assert call.type == "function_call" and call.arguments == '{"city":"Paris"}'
    assert final.model_extra is not None and final.model_extra["rhone"] == {"s": "1"}


def _shift(events: list[gen.GenerationEvent], by: int) -> list[gen.GenerationEvent]:
    shifted = []
    for event in events:
        copy = gen.GenerationEvent()
        copy.CopyFrom(event)
        kind = copy.WhichOneof("event")
        if kind in ("part_started", "part_delta", "part_finished"):
            getattr(copy, kind).index += by
        shifted.append(copy)
    return shifted


def test_sdk_create_reads_encode_response_and_errors() -> None:
    response = gen.GenerateResponse(
        id="abc",
        model="gpt-5",
        provider="openai",
        message=content.Message(
            role=content.ROLE_ASSISTANT,
            parts=[content.Part(text=content.TextPart(text="Hello there"))],
        ),
        usage=gen.Usage(input_tokens=3, output_tokens=2),
        finish_reason=gen.FINISH_REASON_STOP,
    )

    def handler(request: httpx2.Request) -> httpx2.Response:
        if orjson.loads(request.content)["model"] == "missing":
            failure = make_failure(
                gen.ERROR_CODE_NOT_FOUND, "No such model", detail="model_not_found", param="model"
            )
            status, body = DIALECT.encode_error(failure)
            return httpx2.Response(status, json=body)
        return httpx2.Response(200, json=DIALECT.encode_response(response, {"session_id": "s"}))

    client = sdk_client(handler)
    result = client.responses.create(model="gpt-5", input="hi")
    assert result.id == "resp_abc"
    assert result.output_text == "Hello there"
    assert result.usage is not None and result.usage.total_tokens == 5
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.create(model="missing", input="hi")
    assert (raised.value.code, raised.value.param, raised.value.type) == (
        "model_not_found",
        "model",
        "invalid_request_error",
    )


def test_encode_response_validates_as_the_sdk_response() -> None:
    response = c.fold_events(REASONING_EVENTS)
    body = DIALECT.encode_response(response, {"session_id": "ses_1"})
    parsed = Response.model_validate(body)
    assert parsed.output_text == "42"
    assert parsed.status == "completed"
    assert body["rhone"] == {"session_id": "ses_1"}
    assert "rhone" not in DIALECT.encode_response(response, {})


# ============================================================================================
# Errors
# ============================================================================================

ERROR_CASES = [
    (gen.ERROR_CODE_INVALID_REQUEST, 400, "invalid_request_error"),
    (gen.ERROR_CODE_AUTHENTICATION, 401, "authentication_error"),
    (gen.ERROR_CODE_PERMISSION, 403, "permission_error"),
    (gen.ERROR_CODE_NOT_FOUND, 404, "invalid_request_error"),
    (gen.ERROR_CODE_RATE_LIMITED, 429, "rate_limit_error"),
    (gen.ERROR_CODE_INTERNAL, 500, "server_error"),
    (gen.ERROR_CODE_OVERLOADED, 503, "server_error"),
]


@pytest.mark.parametrize(
    ("code", "status", "kind"), ERROR_CASES, ids=[c[2] + str(c[1]) for c in ERROR_CASES]
)
def test_encode_error_renders_openai_error_body(code: int, status: int, kind: str) -> None:
    assert DIALECT.encode_error(make_failure(code, "Nope")) == (
        status,
        {"error": {"message": "Nope", "type": kind, "param": None, "code": None}},
    )


def test_encode_error_keeps_param_detail_and_explicit_status() -> None:
    failure = make_failure(
        gen.ERROR_CODE_CONFLICT,
        "Busy",
        detail="session_busy",
        param="rhone.session_id",
        http_status=409,
    )
    assert DIALECT.encode_error(failure) == (
        409,
        {
            "error": {
                "message": "Busy",
                "type": "invalid_request_error",
                "param": "rhone.session_id",
                "code": "session_busy",
            }
        },
    )


@pytest.mark.parametrize(
    ("status", "body", "code", "detail", "retryable"),
    [
        (
            400,
            b'{"error":{"message":"Bad","type":"invalid_request_error","code":"invalid_value"}}',
            gen.ERROR_CODE_INVALID_REQUEST,
            "invalid_value",
            False,
        ),
        (
            429,
            b'{"error":{"message":"Quota","type":"insufficient_quota","code":"insufficient_quota"}}',
            gen.ERROR_CODE_RATE_LIMITED,
            "insufficient_quota",
            False,
        ),
        (
            429,
            b'{"error":{"message":"Slow","code":"rate_limit_exceeded"}}',
            gen.ERROR_CODE_RATE_LIMITED,
            "rate_limit_exceeded",
            True,
        ),
        (502, b"<html>bad gateway</html>", gen.ERROR_CODE_INTERNAL, "", True),
        (401, b"", gen.ERROR_CODE_AUTHENTICATION, "", False),
    ],
    ids=["invalid_value", "quota_not_retryable", "rate_limited", "html_502", "empty_401"],
)
def test_decode_error(status: int, body: bytes, code: int, detail: str, retryable: bool) -> None:
    failure = DIALECT.decode_error(status, body)
    assert (failure.code, failure.detail, failure.retryable) == (code, detail, retryable)
    assert failure.message


# ============================================================================================
# Upstream: encode_request
# ============================================================================================


def request(*messages: content.Message, **fields: Any) -> gen.GenerateRequest:
    return gen.GenerateRequest(model="gpt-5", messages=list(messages), **fields)


def cmsg(role: int, *parts: content.Part) -> content.Message:
    return content.Message(role=role, parts=list(parts))  # type: ignore[arg-type]


def ctext(value: str) -> content.Part:
    return content.Part(text=content.TextPart(text=value))


def test_encode_request_moves_leading_system_and_developer_to_instructions() -> None:
    body = DIALECT.encode_request(
        request(
            cmsg(content.ROLE_SYSTEM, ctext("A")),
            cmsg(content.ROLE_DEVELOPER, ctext("B")),
            cmsg(content.ROLE_USER, ctext("hi")),
            cmsg(content.ROLE_DEVELOPER, ctext("later")),
        ),
        True,
    )
    assert body == {
        "model": "gpt-5",
        "instructions": "A\n\nB",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "later"}],
            },
        ],
        "store": False,
        "stream": True,
    }


def test_encode_request_items_and_reasoning_replay_only_for_openai() -> None:
    def thinking(origin: str) -> content.Part:
        return content.Part(thinking=content.ThinkingPart(text="t", signature="S", origin=origin))

    body = DIALECT.encode_request(
        request(
            cmsg(content.ROLE_USER, ctext("hi")),
            cmsg(
                content.ROLE_ASSISTANT,
                thinking("anthropic"),
                thinking("openai"),
                ctext("Let me check."),
                content.Part(tool_call=content.ToolCallPart(id="call_1", name="f", arguments="{}")),
            ),
            cmsg(
                content.ROLE_TOOL,
                content.Part(
                    tool_result=content.ToolResultPart(call_id="call_1", content=[ctext("ok")])
                ),
            ),
        ),
        False,
    )
    assert body["input"][1:] == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "t"}],
            "encrypted_content": "S",
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Let me check."}],
        },
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
    ]
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["store"] is False


def test_encode_request_tools_config_and_matching_extras() -> None:
    req = request(
        cmsg(content.ROLE_USER, ctext("hi")),
        tools=[
            gen.Tool(name="f"),
            gen.Tool(name="g", parameters_json='{"type":"object"}', strict=True),
        ],
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="g"),
        config=gen.GenerationConfig(
            max_tokens=100,
            top_k=5,
            stop=["x"],
            reasoning_effort="medium",
            include_thinking=True,
        ),
        extras=struct_from_dict(
            {"tools": [{"type": "web_search"}], "reasoning": {"summary": "detailed"}, "store": True}
        ),
        extras_dialect=NAME,
    )
    body = DIALECT.encode_request(req, False)
    assert body["tools"] == [
        {
            "type": "function",
            "name": "f",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        },
        {"type": "function", "name": "g", "parameters": {"type": "object"}, "strict": True},
        {"type": "web_search"},
    ]
    assert body["tool_choice"] == {"type": "function", "name": "g"}
    assert body["max_output_tokens"] == 100
    assert body["reasoning"] == {"effort": "medium", "summary": "detailed"}
    assert "top_k" not in body and "stop" not in body
    assert body["store"] is False

    req.extras_dialect = "openai.chat"
    assert DIALECT.encode_request(req, False)["tools"][-1]["name"] == "g"


# ============================================================================================
# Upstream: stream_decoder and decode_response
# ============================================================================================


def decode_stream(events: list[dict[str, Any]], close: bool = False) -> list[gen.GenerationEvent]:
    decoder = DIALECT.stream_decoder()
    out = [e for data in events for e in decoder.feed(data["type"], data)]
    return out + (decoder.close() if close else [])


RESP = {"id": "resp_1", "object": "response", "model": "gpt-5", "status": "in_progress"}
AT_TEXT = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
USAGE = {
    "input_tokens": 5,
    "input_tokens_details": {"cached_tokens": 1},
    "output_tokens": 2,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 7,
}


def up(kind: str, **fields: Any) -> dict[str, Any]:
    """One upstream Responses stream event, as OpenAI sends it."""
    return {"type": f"response.{kind}", **fields}


def terminal(kind: str, status: str, **response: Any) -> dict[str, Any]:
    return up(kind, response={**RESP, "status": status, **response})


def message_item(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "content": list(parts)}


def output_text(value: str) -> dict[str, Any]:
    return {"type": "output_text", "text": value, "annotations": []}


def summary(value: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": value}


def test_stream_decoder_reads_an_openai_text_stream() -> None:
    events = [
        up("created", sequence_number=0, response=RESP),
        up("in_progress", sequence_number=1, response=RESP),
        up("output_item.added", output_index=0, item=message_item()),
        up("content_part.added", **AT_TEXT, part=output_text("")),
        up("output_text.delta", **AT_TEXT, delta="Hi"),
        up("output_text.delta", **AT_TEXT, delta="!"),
        up("output_text.done", **AT_TEXT, text="Hi!"),
        up("content_part.done", **AT_TEXT, part=output_text("Hi!")),
        up("output_item.done", output_index=0, item=message_item(output_text("Hi!"))),
        terminal("completed", "completed", usage=USAGE),
    ]
    out = decode_stream(events)
    assert [e.WhichOneof("event") for e in out] == [
        "started",
        "part_started",
        "part_delta",
        "part_delta",
        "part_finished",
        "usage",
        "finished",
    ]
    folded = c.fold_events(out)
    assert (folded.id, folded.model, folded.provider) == ("resp_1", "gpt-5", "openai")
    assert as_dict(folded.message) == msg("assistant", text("Hi!"))
    assert (folded.usage.input_tokens, folded.usage.cached_input_tokens) == (5, 1)
    assert folded.finish_reason == gen.FINISH_REASON_STOP


def test_stream_decoder_tool_call_and_reasoning_with_multi_part_summary() -> None:
    at_rs = {"item_id": "rs_1", "output_index": 0}
    at_fc = {"item_id": "fc_1", "output_index": 1}
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "f"}
    reasoning = {"id": "rs_1", "type": "reasoning"}
    events = [
        up("created", response=RESP),
        up("output_item.added", output_index=0, item={**reasoning, "summary": []}),
        up("reasoning_summary_part.added", **at_rs, summary_index=0, part=summary("")),
        up("reasoning_summary_text.delta", **at_rs, summary_index=0, delta="One."),
        up("reasoning_summary_part.added", **at_rs, summary_index=1, part=summary("")),
        up("reasoning_summary_text.delta", **at_rs, summary_index=1, delta="Two."),
        up(
            "output_item.done",
            output_index=0,
            item={
                **reasoning,
                "summary": [summary("One."), summary("Two.")],
                "encrypted_content": "E",
            },
        ),
        up("output_item.added", output_index=1, item={**call, "arguments": ""}),
        up("function_call_arguments.delta", **at_fc, delta='{"a":'),
        up("function_call_arguments.delta", **at_fc, delta="1}"),
        up("function_call_arguments.done", **at_fc, arguments='{"a":1}'),
        up("output_item.done", output_index=1, item={**call, "arguments": '{"a":1}'}),
        terminal("completed", "completed"),
    ]
    folded = c.fold_events(decode_stream(events))
    assert as_dict(folded.message) == msg(
        "assistant",
        {"thinking": {"text": "One.\n\nTwo.", "signature": "E", "origin": "openai"}},
        {"tool_call": {"id": "call_9", "name": "f", "arguments": '{"a":1}'}},
    )
    assert folded.finish_reason == gen.FINISH_REASON_TOOL_CALLS


def test_stream_decoder_takes_text_from_done_events_when_deltas_are_missing() -> None:
    done_only = [
        up("created", response=RESP),
        up("output_item.added", output_index=0, item=message_item()),
        up("output_text.done", **AT_TEXT, text="Whole"),
        terminal("completed", "completed"),
    ]
    folded = c.fold_events(decode_stream(done_only))
    assert as_dict(folded.message) == msg("assistant", text("Whole"))


def test_stream_decoder_takes_parts_from_the_final_response_when_none_were_streamed() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    final_only = [up("created", response=RESP), terminal("completed", "completed", output=[call])]
    folded = c.fold_events(decode_stream(final_only))
    assert as_dict(folded.message) == msg(
        "assistant", {"tool_call": {"id": "c1", "name": "f", "arguments": "{}"}}
    )
    assert folded.finish_reason == gen.FINISH_REASON_TOOL_CALLS


TERMINALS: list[tuple[str, dict[str, Any], str, int]] = [
    (
        "incomplete_length",
        terminal("incomplete", "incomplete", incomplete_details={"reason": "max_output_tokens"}),
        "finished",
        gen.FINISH_REASON_LENGTH,
    ),
    (
        "incomplete_filter",
        terminal("incomplete", "incomplete", incomplete_details={"reason": "content_filter"}),
        "finished",
        gen.FINISH_REASON_CONTENT_FILTER,
    ),
    (
        "failed",
        terminal("failed", "failed", error={"code": "rate_limit_exceeded", "message": "slow"}),
        "failure",
        gen.ERROR_CODE_RATE_LIMITED,
    ),
    (
        "error_event_flat",
        {"type": "error", "code": "server_error", "message": "boom", "param": None},
        "failure",
        gen.ERROR_CODE_INTERNAL,
    ),
    (
        "error_event_nested",
        {"type": "error", "error": {"code": "context_length_exceeded", "message": "too long"}},
        "failure",
        gen.ERROR_CODE_INVALID_REQUEST,
    ),
]


@pytest.mark.parametrize(
    ("last", "kind", "value"), [t[1:] for t in TERMINALS], ids=[t[0] for t in TERMINALS]
)
def test_stream_decoder_terminals(last: dict[str, Any], kind: str, value: int) -> None:
    out = decode_stream([up("created", response=RESP), last], close=True)
    end = out[-1]
    assert end.WhichOneof("event") == kind
    assert (end.finished.reason if kind == "finished" else end.failure.code) == value
    assert sum(e.WhichOneof("event") in ("finished", "failure") for e in out) == 1


def test_stream_decoder_close_without_terminal_is_a_retryable_failure() -> None:
    out = decode_stream([up("created", response=RESP)], close=True)
    failure = out[-1].failure
    assert (failure.code, failure.message, failure.retryable) == (
        gen.ERROR_CODE_INTERNAL,
        "upstream stream ended early",
        True,
    )


def test_decode_response_reads_output_items_and_usage() -> None:
    usage = {**USAGE, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 2}}
    output = [
        {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "E"},
        message_item(output_text("Hi")),
        {"id": "ws_1", "type": "web_search_call", "status": "completed"},
    ]
    response = DIALECT.decode_response(
        {**RESP, "status": "completed", "output": output, "usage": usage}
    )
    assert as_dict(response.message) == msg(
        "assistant", {"thinking": {"signature": "E", "origin": "openai"}}, text("Hi")
    )
    assert (response.usage.input_tokens, response.usage.cache_creation_input_tokens) == (5, 2)
    assert response.finish_reason == gen.FINISH_REASON_STOP


def test_decode_response_raises_the_failure_of_a_failed_response() -> None:
    with pytest.raises(RhoneError) as raised:
        DIALECT.decode_response(
            {**RESP, "status": "failed", "error": {"code": "server_error", "message": "x"}}
        )
    assert raised.value.failure.code == gen.ERROR_CODE_INTERNAL


# ============================================================================================
# Hypothesis round trips
# ============================================================================================

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_free_text = st.text(max_size=12)
_json_object = st.dictionaries(
    _word, st.one_of(st.integers(-5, 5), _word, st.booleans(), st.none()), max_size=3
)


def _part(**kind: Any) -> content.Part:
    return content.Part(**kind)


_user_parts = st.one_of(
    _free_text.map(lambda t: _part(text=content.TextPart(text=t))),
    st.builds(
        lambda path, detail: _part(
            image=content.ImagePart(url="https://x.test/" + path, detail=detail)
        ),
        _word,
        st.sampled_from(["", "low", "high", "auto"]),
    ),
    st.builds(
        lambda data, mt: _part(image=content.ImagePart(data=data, media_type=mt)),
        st.binary(min_size=1, max_size=8),
        st.sampled_from(["image/png", "image/jpeg"]),
    ),
    st.builds(
        lambda fid, mt: _part(file=content.FilePart(file_id="file-" + fid, media_type=mt)),
        _word,
        st.sampled_from(["", "image/*"]),
    ),
    st.builds(
        lambda data, name: _part(
            file=content.FilePart(data=data, media_type="application/pdf", filename=name)
        ),
        st.binary(min_size=1, max_size=8),
        st.sampled_from(["", "a.pdf"]),
    ),
)
_assistant_parts = st.one_of(
    _free_text.map(lambda t: _part(text=content.TextPart(text=t))),
    st.builds(
        lambda i, name, args: _part(
            tool_call=content.ToolCallPart(id="call_" + i, name=name, arguments=args)
        ),
        st.sampled_from(["a", "b", "c"]),
        _word,
        _free_text,
    ),
    st.builds(
        lambda t, sig: _part(thinking=content.ThinkingPart(text=t, signature=sig, origin="openai")),
        _free_text,
        _word,
    ),
)
_tool_parts = st.builds(
    lambda i, parts: _part(tool_result=content.ToolResultPart(call_id="call_" + i, content=parts)),
    st.sampled_from(["a", "b", "z"]),
    st.lists(_user_parts, min_size=1, max_size=2),
)
_turns = st.one_of(
    st.builds(cmsg, st.just(content.ROLE_USER), _user_parts, _user_parts),
    st.lists(_user_parts, min_size=1, max_size=3).map(lambda p: cmsg(content.ROLE_USER, *p)),
    _word.map(lambda t: cmsg(content.ROLE_DEVELOPER, ctext(t))),
    _word.map(lambda t: cmsg(content.ROLE_SYSTEM, ctext(t))),
    st.lists(_assistant_parts, min_size=1, max_size=3).map(
        lambda p: cmsg(content.ROLE_ASSISTANT, *p)
    ),
    st.lists(_tool_parts, min_size=1, max_size=2).map(lambda p: cmsg(content.ROLE_TOOL, *p)),
)


def _normalize(messages: list[content.Message]) -> list[content.Message]:
    """What the Responses wire keeps of a transcript: consecutive assistant (or tool) messages
    are one, tool results carry the name of the call they answer."""
    out: list[content.Message] = []
    names: dict[str, str] = {}
    for message in messages:
        for part in message.parts:
            if part.HasField("tool_call"):
                names[part.tool_call.id] = part.tool_call.name
            elif part.HasField("tool_result"):
                part.tool_result.name = names.get(part.tool_result.call_id, "")
        if (
            out
            and message.role in (content.ROLE_ASSISTANT, content.ROLE_TOOL)
            and out[-1].role == message.role
        ):
            out[-1].parts.extend(message.parts)
        else:
            out.append(message)
    return out


@st.composite
def canonical_requests(draw: st.DrawFn) -> gen.GenerateRequest:
    messages = []
    if draw(st.booleans()):
        messages.append(cmsg(content.ROLE_SYSTEM, ctext(draw(_word))))
    messages.append(cmsg(content.ROLE_USER, *draw(st.lists(_user_parts, min_size=1, max_size=2))))
    messages.extend(draw(st.lists(_turns, max_size=5)))
    req = gen.GenerateRequest(model=draw(_word), messages=_normalize(messages))
    for name in draw(st.lists(_word, max_size=2, unique=True)):
        # No parameters at all goes upstream as an empty object schema, so always give some.
        tool = gen.Tool(
            name=name,
            description=draw(st.sampled_from(["", "does x"])),
            parameters_json=compact_json(draw(_json_object)),
            strict=draw(st.booleans()),
        )
        req.tools.append(tool)
    mode = draw(st.sampled_from([0, 1, 2, 3, 4]))
    if mode:
        req.tool_choice.mode = mode  # type: ignore[assignment]
    if mode == gen.ToolChoice.MODE_TOOL:
        req.tool_choice.name = draw(_word)
    config = req.config
    for field, strategy in (
        ("max_tokens", st.integers(1, 100_000)),
        ("temperature", st.floats(0, 2)),
        ("top_p", st.floats(0, 1)),
        ("parallel_tool_calls", st.booleans()),
    ):
        value = draw(st.none() | strategy)
        if value is not None:
            setattr(config, field, value)
    fmt = draw(st.sampled_from([0, 1, 2, 3]))
    if fmt:
        config.response_format.type = fmt  # type: ignore[assignment]
    if fmt == gen.ResponseFormat.TYPE_JSON_SCHEMA:
        config.response_format.name = draw(_word)
        config.response_format.description = draw(st.sampled_from(["", "an answer"]))
        config.response_format.schema_json = compact_json(draw(_json_object))
        if draw(st.booleans()):
            config.response_format.strict = draw(st.booleans())
    effort = draw(st.sampled_from(["", "low", "high"]))
    if effort:
        config.reasoning_effort = effort
    if draw(st.booleans()):
        config.include_thinking = True
    req.metadata.update(draw(st.dictionaries(_word, _free_text, max_size=2)))
    extras = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "user": _word,
                "truncation": st.sampled_from(["auto", "disabled"]),
                "tools": st.just([{"type": "web_search"}]),
                "text": st.just({"verbosity": "low"}),
            },
        )
    )
    if extras:
        req.extras.CopyFrom(struct_from_dict(extras))
        req.extras_dialect = NAME
    return req


def _without_added_include(req: gen.GenerateRequest) -> gen.GenerateRequest:
    """encode_request asks OpenAI for encrypted reasoning; decoding shows that as an extra."""
    extras = dict_from_struct(req.extras)
    if extras.pop("include", None) == ["reasoning.encrypted_content"]:
        req.ClearField("extras")
        if extras:
            req.extras.CopyFrom(struct_from_dict(extras))
        else:
            req.extras_dialect = ""
    return req


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canonical_requests(), st.booleans())
def test_request_round_trips_through_the_wire(req: gen.GenerateRequest, stream: bool) -> None:
    body = orjson.loads(orjson.dumps(DIALECT.encode_request(req, stream)))
    decoded = DIALECT.decode_request(body, {})
    assert as_dict(_without_added_include(decoded.request)) == as_dict(req)
    assert decoded.stream is stream
    assert decoded.options["store"] is False


@st.composite
def canonical_responses(draw: st.DrawFn) -> gen.GenerateResponse:
    parts = []
    for i, kind in enumerate(
        draw(st.lists(st.sampled_from(["text", "call", "thinking"]), max_size=5))
    ):
        if kind == "text":
            parts.append(ctext(draw(_free_text)))
        elif kind == "call":
            call = content.ToolCallPart(
                id=f"call_{i}", name=draw(_word), arguments=draw(_free_text)
            )
            parts.append(_part(tool_call=call))
        else:
            thought = draw(_free_text)
            signature = draw(_word if not thought else st.sampled_from(["", "sig"]))
            parts.append(
                _part(
                    thinking=content.ThinkingPart(
                        text=thought, signature=signature, origin="openai"
                    )
                )
            )
    has_calls = any(p.HasField("tool_call") for p in parts)
    reason = draw(
        st.sampled_from(
            [
                gen.FINISH_REASON_TOOL_CALLS if has_calls else gen.FINISH_REASON_STOP,
                gen.FINISH_REASON_LENGTH,
                gen.FINISH_REASON_CONTENT_FILTER,
            ]
        )
    )
    response = gen.GenerateResponse(
        id="resp_" + draw(_word),
        model=draw(_word),
        provider="openai",
        message=content.Message(role=content.ROLE_ASSISTANT, parts=parts),
        finish_reason=reason,
    )
    if draw(st.booleans()):
        counts = st.integers(0, 2**40)
        response.usage.CopyFrom(
            gen.Usage(
                input_tokens=draw(counts),
                output_tokens=draw(counts),
                cached_input_tokens=draw(counts),
                cache_creation_input_tokens=draw(counts),
                reasoning_tokens=draw(counts),
            )
        )
    return response


@settings(max_examples=150, deadline=None)
@given(canonical_responses())
def test_response_round_trips_through_the_response_object(response: gen.GenerateResponse) -> None:
    body = orjson.loads(orjson.dumps(DIALECT.encode_response(response, {})))
    assert DIALECT.decode_response(body) == response


def _chunked(events: list[gen.GenerationEvent]) -> list[gen.GenerationEvent]:
    """Splits every text/arguments/thinking delta in two, as a real stream would."""
    out = []
    for event in events:
        which = event.part_delta.WhichOneof("delta") if event.HasField("part_delta") else None
        value = (
            getattr(event.part_delta, which) if which in ("text", "arguments", "thinking") else ""
        )
        if which and len(value) > 1:
            cut = len(value) // 2
            for piece in (value[:cut], value[cut:]):
                out.append(
                    gen.GenerationEvent(
                        part_delta=gen.PartDelta(index=event.part_delta.index, **{which: piece})
                    )
                )
        else:
            out.append(event)
    return out


@settings(max_examples=150, deadline=None)
@given(canonical_responses())
def test_stream_round_trips_through_encoder_and_decoder(response: gen.GenerateResponse) -> None:
    items = encode_stream(_chunked(c.response_events(response)))
    numbers = [orjson.loads(item.data)["sequence_number"] for item in items]
    assert numbers == list(range(len(items)))
    decoder = DIALECT.stream_decoder()
    events = [e for item in items for e in decoder.feed(item.event, orjson.loads(item.data))]
    assert decoder.close() == []
    assert c.fold_events(events) == response


@settings(max_examples=40, deadline=None)
@given(canonical_responses())
def test_sdk_accumulator_agrees_with_the_canonical_response(response: gen.GenerateResponse) -> None:
    response.finish_reason = (
        gen.FINISH_REASON_TOOL_CALLS
        if any(p.HasField("tool_call") for p in response.message.parts)
        else gen.FINISH_REASON_STOP
    )
    final = sdk_fold(encode_stream(c.response_events(response)))
    parts = response.message.parts
    assert final.output_text == "".join(p.text.text for p in parts if p.HasField("text"))
    assert [(o.call_id, o.arguments) for o in final.output if o.type == "function_call"] == [
        (p.tool_call.id, p.tool_call.arguments) for p in parts if p.HasField("tool_call")
    ]
    Response.model_validate(DIALECT.encode_response(response, {"session_id": "s"}))


@settings(max_examples=100, deadline=None)
@given(canonical_responses())
def test_replayed_output_items_decode_to_the_same_assistant_message(
    response: gen.GenerateResponse,
) -> None:
    """A stateless client sends the previous output back as input: the model sees its turn."""
    output = DIALECT.encode_response(response, {})["output"]
    messages = decode({"model": "m", "input": output}).request.messages
    assert list(messages) == ([response.message] if response.message.parts else [])
