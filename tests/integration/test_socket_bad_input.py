"""Bad input on the sockets: rhone.ws.v1 and the Responses WebSocket mode answer it with
their own error frames, clean of parser and proto internals, and keep serving."""

from __future__ import annotations

import openai
import orjson
import pytest

from rhone.ws_client import RhoneWsClient, RhoneWsError
from tests.integration.conftest import API_KEY


def canonical(request: dict) -> dict:
    return {"request": request}


async def test_canonical_call_with_no_messages_is_an_error_not_an_empty_answer(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session()
        with pytest.raises(RhoneWsError) as raised:
            async for _ in ws.create("rhone.canonical", canonical({"model": "local"})):
                pass
        frame = raised.value.frame
        assert frame["type"] == "call.error" and frame["status"] == 400
        assert frame["error"]["param"] == "request.messages"
        # The socket still serves.
        events = [
            event
            async for event in ws.create(
                "rhone.canonical",
                canonical(
                    {
                        "model": "local",
                        "messages": [{"role": "ROLE_USER", "parts": [{"text": {"text": "hi"}}]}],
                    }
                ),
            )
        ]
        assert "finished" in events[-1]


async def test_canonical_body_errors_name_no_proto_internals(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as raised:
            async for _ in ws.create("rhone.canonical", canonical({"no_such_field": 1})):
                pass
    frame = raised.value.frame
    assert frame["code"] == "invalid_request" and frame["status"] == 400
    text = orjson.dumps(frame).decode()
    assert "rhone.v1" not in text and "GenerateRequest" not in text and "ParseError" not in text


@pytest.mark.parametrize("bad", ["sess_\x00", "s" * 10_000, "séssion"])
async def test_binding_an_id_that_cannot_be_one_is_session_not_found(base_url: str, bad: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as raised:
            await ws.bind_session(bad)
        assert raised.value.frame["code"] == "session_not_found"
        assert bad not in raised.value.frame["message"]
        assert (await ws.ping("still here")) == "still here"


@pytest.mark.parametrize("where", ["rhone", "previous"])
async def test_a_call_naming_a_bad_id_is_a_call_error(base_url: str, where: str):
    body: dict = {"model": "local", "input": "hi"}
    if where == "rhone":
        body["rhone"] = {"session_id": "sess_\x00" + "x" * 5000}
    else:
        body["previous_response_id"] = "resp_\x00"
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as raised:
            async for _ in ws.create("openai.responses", body):
                pass
    frame = raised.value.frame
    assert frame["type"] == "call.error" and frame["status"] == 400


async def test_a_frame_nested_too_deeply_is_an_error_frame(base_url: str):
    deep: object = "x"
    for _ in range(200):  # beyond Rhone's bound; within what the client can write
        deep = [deep]
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as raised:
            async for _ in ws.create(
                "openai.chat",
                {"model": "local", "messages": [{"role": "user", "content": "hi"}], "x": deep},
            ):
                pass
        assert "nested too deeply" in orjson.dumps(raised.value.frame).decode()
        assert (await ws.ping(1)) == 1


def test_responses_socket_answers_a_bad_previous_response_id_with_an_error_event(base_url: str):
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)
    with client.responses.connect() as connection:
        connection.response.create(
            model="local", input="hi", previous_response_id="resp_" + "\u2713" * 500
        )
        for event in connection:
            if event.type == "error":
                break
        assert event.type == "error"
        assert "previous_response_id" in event.error.message


async def test_canonical_extras_nested_too_deeply_is_a_400(base_url: str):
    deep: object = 1
    for _ in range(60):
        deep = {"a": deep}
    request = {
        "model": "local",
        "messages": [{"role": "ROLE_USER", "parts": [{"text": {"text": "hi"}}]}],
        "extras": {"x": deep},
    }
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as raised:
            async for _ in ws.create("rhone.canonical", canonical(request)):
                pass
    frame = raised.value.frame
    assert frame["status"] == 400 and frame["error"]["param"].startswith("request.extras")
