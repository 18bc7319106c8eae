"""Every Response object and stream event the Responses surface emits, whole, over SSE and over
the WebSocket mode, is valid against the Open Responses OpenAPI schema and the openai SDK's
types in strict mode (tests/contracts/responses_contract.py). Raw HTTP and WebSocket clients
are used on purpose: an SDK would fill in defaults and hide a missing field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openai.types.responses import ResponseItemList
from websockets.sync.client import connect

from tests.contracts.responses_contract import check_event, check_response, check_ws_error
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import StreamError, Text, Thinking, ToolCall
from tests.integration.conftest import API_KEY

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
TERMINAL = ("response.completed", "response.incomplete", "response.failed")
# The Response fields that change while a response runs; all the others are fixed at creation.
RUNNING = {"status", "output", "usage", "completed_at", "incomplete_details", "error"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def whole(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{base_url}/v1/responses", json=body, headers=AUTH, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def sse(base_url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = []
    with httpx.stream(
        "POST", f"{base_url}/v1/responses", json={**body, "stream": True}, headers=AUTH, timeout=30
    ) as answer:
        assert answer.status_code == 200, answer.read()
        name = None
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                assert event["type"] == name, "the SSE event name is the JSON type"
                events.append(event)
    return events


def websocket(base_url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    url = base_url.replace("http://", "ws://") + "/v1/responses"
    events = []
    with connect(url, additional_headers=AUTH, open_timeout=10) as socket:
        socket.send(json.dumps({"type": "response.create", **body}))
        while True:
            event = json.loads(socket.recv(timeout=30))
            events.append(event)
            if event["type"] in (*TERMINAL, "error"):
                return events


def check_stream(events: list[dict[str, Any]], *, spec: bool = True) -> dict[str, Any]:
    """Every event valid; the same Response object from created to the end; the final one."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        check_event(event, spec=spec)
    created, in_progress, last = events[0], events[1], events[-1]
    assert (created["type"], in_progress["type"]) == ("response.created", "response.in_progress")
    assert last["type"] in TERMINAL
    assert created["response"] == in_progress["response"]

    def fixed(response: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in response.items() if k not in RUNNING}

    assert fixed(last["response"]) == fixed(created["response"])
    assert created["response"]["completed_at"] is None
    return last["response"]


def check_all_ways(
    base_url: str, body: dict[str, Any], *, spec: bool = True, before: Callable[[], None] | None
) -> list[dict[str, Any]]:
    """The request whole, over SSE and over a WebSocket, then each stored response retrieved;
    every object checked. Returns the three final Response objects."""
    finals = []
    for send in (whole, sse, websocket):
        if before is not None:
            before()
        got = send(base_url, body)
        final = check_stream(got, spec=spec) if isinstance(got, list) else got
        check_response(final, spec=spec)
        finals.append(final)
        if body.get("store", True):
            stored = httpx.get(f"{base_url}/v1/responses/{final['id']}", headers=AUTH).json()
            check_response(stored, spec=spec)
            # Retrieved, it is the response as it was answered, settings included.
            assert untimed(stored) == untimed(final)
    return finals


def untimed(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k not in ("created_at", "completed_at")}


LOCAL_CASES = {
    "text": {"model": "local", "input": "hello"},
    "tool_call": {
        "model": "local",
        "input": 'Use get_weather with {"city": "Nice"}',
        "tools": TOOLS,
    },
    "tool_choice_function": {
        "model": "local",
        "input": "weather please",
        "tools": TOOLS,
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
    },
    "reasoning": {
        "model": "local",
        "input": "think",
        "reasoning": {"effort": "low", "summary": "auto"},
    },
    "incomplete": {"model": "local", "input": "say a great many words", "max_output_tokens": 3},
    "json_object": {"model": "local", "input": "json", "text": {"format": {"type": "json_object"}}},
    "no_store": {"model": "local", "input": "forget", "store": False},
    "every_setting": {
        "model": "local",
        "input": "settings",
        "instructions": "Be brief.",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_output_tokens": 500,
        "metadata": {"k": "v"},
        "truncation": "auto",
        "service_tier": "flex",
        "safety_identifier": "user-1",
        "prompt_cache_key": "cache-1",
        "top_logprobs": 2,
        "presence_penalty": 0.25,
        "frequency_penalty": 0.5,
        "max_tool_calls": 3,
        "user": "me",
        "text": {"format": {"type": "text"}, "verbosity": "low"},
    },
}


@pytest.mark.parametrize("case", list(LOCAL_CASES))
def test_local_model_responses_follow_the_contract(base_url: str, case: str):
    finals = check_all_ways(base_url, LOCAL_CASES[case], before=None)
    statuses = {final["status"] for final in finals}
    assert statuses == {"incomplete" if case == "incomplete" else "completed"}
    for final in finals:
        if final["status"] == "completed":
            assert final["completed_at"] >= final["created_at"]
        else:
            assert final["completed_at"] is None


def test_defaults_are_the_values_openai_reports(base_url: str):
    response = whole(base_url, LOCAL_CASES["text"])
    assert {key: response[key] for key in DEFAULTS} == DEFAULTS


DEFAULTS = {
    "temperature": 1.0,
    "top_p": 1.0,
    "truncation": "disabled",
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_logprobs": 0,
    "max_tool_calls": None,
    "background": False,
    "service_tier": "default",
    "safety_identifier": None,
    "prompt_cache_key": None,
    "store": True,
    "instructions": None,
    "previous_response_id": None,
}


def test_settings_are_echoed(base_url: str):
    body = LOCAL_CASES["every_setting"]
    response = whole(base_url, body)
    echoed = {key: response[key] for key in body if key not in ("input", "model")}
    assert echoed == {key: value for key, value in body.items() if key not in ("input", "model")}


def test_json_schema_format_follows_the_sdk(base_url: str):
    """The specification's JsonSchemaResponseFormat has `schema: null` where the API echoes the
    schema (open_responses/README.md): held to the SDK's strict types only."""
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    body = {
        "model": "local",
        "input": "json",
        "text": {
            "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True}
        },
    }
    finals = check_all_ways(base_url, body, spec=False, before=None)
    assert all(final["text"]["format"]["schema"] == schema for final in finals)


@pytest.mark.parametrize(
    "reply",
    [
        Text(
            thinking=Thinking(chunks=["Weather", " needs a tool."], signature="c2lnbmF0dXJl"),
            chunks=["Checking."],
            tool_calls=[ToolCall("get_weather", ['{"city":', ' "Oslo"}'])],
        ),
        Text(chunks=["Cut", " short", " here"], stop="max_tokens"),
    ],
    ids=["reasoning_text_and_tool_call", "incomplete"],
)
def test_openai_upstream_responses_follow_the_contract(
    base_url: str, fake_openai: FakeOpenAI, reply: Text
):
    body = {
        "model": "responses-model",
        "input": "weather in Oslo?",
        "tools": TOOLS,
        "reasoning": {"effort": "medium", "summary": "auto"},
    }
    finals = check_all_ways(base_url, body, before=lambda: fake_openai.script(reply))
    kinds = [[item["type"] for item in final["output"]] for final in finals]
    if reply.thinking is not None:
        assert kinds == [["reasoning", "message", "function_call"]] * 3
        assert all(final["output"][0]["encrypted_content"] for final in finals)
    else:
        assert {final["status"] for final in finals} == {"incomplete"}


@pytest.mark.parametrize("send", [sse, websocket], ids=["sse", "websocket"])
def test_a_failure_mid_stream_is_a_valid_failed_response(
    base_url: str, fake_openai: FakeOpenAI, send: Callable[..., list[dict[str, Any]]]
):
    fake_openai.script(StreamError(after_chunks=1, then=Text(chunks=["a", "b", "c"])))
    events = send(base_url, {"model": "responses-model", "input": "fail"})
    failed = check_stream(events)
    assert failed["status"] == "failed" and failed["completed_at"] is None
    assert isinstance(failed["error"]["code"], str) and failed["error"]["message"]


def test_a_websocket_error_frame_follows_the_contract(base_url: str):
    events = websocket(base_url, {"model": "local", "input": [{"type": "mystery"}]})
    (error,) = events
    check_ws_error(error)
    assert error["status"] == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("truncation", "sometimes"),
        ("top_logprobs", 21),
        ("max_tool_calls", 0),
        ("presence_penalty", "high"),
        ("service_tier", 3),
        ("prompt_cache_key", ["k"]),
    ],
)
def test_a_bad_echoed_setting_is_400(base_url: str, field: str, value: Any):
    answer = httpx.post(
        f"{base_url}/v1/responses",
        json={"model": "local", "input": "x", field: value},
        headers=AUTH,
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == field


def test_input_items_follow_the_sdk(base_url: str):
    """GET /v1/responses/{id}/input_items: messages (user and assistant), function calls and
    their outputs."""
    asked = whole(base_url, LOCAL_CASES["tool_call"])
    call = asked["output"][0]
    answered = whole(
        base_url,
        {
            "model": "local",
            "tools": TOOLS,
            "input": [
                {"role": "user", "content": 'Use get_weather with {"city": "Nice"}'},
                {"role": "assistant", "content": "Let me check."},
                {"type": "item_reference", "id": call["id"]},
                {"type": "function_call_output", "call_id": call["call_id"], "output": "warm"},
            ],
        },
    )
    listed = httpx.get(
        f"{base_url}/v1/responses/{answered['id']}/input_items",
        params={"order": "asc"},
        headers=AUTH,
    ).json()
    items = ResponseItemList.model_validate(listed, strict=True)
    kinds = [(item.type, getattr(item, "role", None)) for item in items.data]
    assert kinds == [
        ("message", "user"),
        ("message", "assistant"),
        ("function_call", None),
        ("function_call_output", None),
    ]
