"""rhone.ws.v1's Gemini and Vertex surfaces over a real socket: google-genai-shaped bodies, events
exactly as the streamed HTTP surface sends them, continuity across sockets and with HTTP calls
made by the google-genai SDK on the same session, errors in Google's shape."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import types

from rhone.sse import SseDecoder
from rhone.ws_client import RhoneWsClient, RhoneWsError
from tests.integration.conftest import API_KEY

SURFACES = {
    "gemini.generate_content": "/v1beta/models/local:streamGenerateContent?alt=sse",
    "vertex.generate_content": "/v1beta1/publishers/google/models/local:streamGenerateContent"
    "?alt=sse",
}


def body(text: str, **extra: Any) -> dict[str, Any]:
    """A GenerateContentRequest as google-genai sends it, plus the model name."""
    return {
        "model": "local",
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "systemInstruction": {"parts": [{"text": "Answer plainly."}]},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 200},
        **extra,
    }


def parse(event: dict[str, Any]) -> types.GenerateContentResponse:
    """One event as google-genai parses a streamed chunk (unknown fields such as `rhone` are
    dropped, as the SDK does for HTTP answers)."""
    return types.GenerateContentResponse._from_response(response=event, kwargs={})


async def chunks(stream: Any) -> list[types.GenerateContentResponse]:
    """The call's events, each parsed by google-genai as a streamed response chunk."""
    return [parse(event) async for event in stream]


def text_of(responses: list[types.GenerateContentResponse]) -> str:
    return "".join(r.text or "" for r in responses)


@pytest.mark.parametrize("surface", list(SURFACES))
async def test_events_equal_the_streamed_http_surface(base_url: str, surface: str):
    request = body("same on both")
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            base_url + SURFACES[surface],
            content=orjson.dumps({k: v for k, v in request.items() if k != "model"}),
            headers={"x-goog-api-key": API_KEY, "content-type": "application/json"},
        )
    assert reply.status_code == 200
    decoder = SseDecoder()
    sse = [orjson.loads(e.data) for e in [*decoder.feed(reply.text), *decoder.close()]]
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        stream = ws.create(surface, request)
        events = [event async for event in stream]

    def normal(
        event: dict[str, Any],
    ) -> dict[str, Any]:  # ids and times differ per call, nothing else
        return {k: v for k, v in event.items() if k not in ("responseId", "createTime", "rhone")}

    assert len(events) > 3
    assert [normal(e) for e in events] == [normal(e) for e in sse]
    assert events[0]["rhone"]["session_id"] == stream.session_id
    parsed = [parse(e) for e in events]
    assert text_of(parsed).startswith('You said: "same on both".')
    assert parsed[-1].candidates[0].finish_reason == types.FinishReason.STOP


async def test_one_session_across_sockets_surfaces_and_the_http_sdk(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        session_id = await ws.bind_session()
        first = await chunks(ws.create("gemini.generate_content", body("I am Ada")))
        assert text_of(first).startswith('You said: "I am Ada". This is user turn 1;')
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session(session_id)
        second = await chunks(ws.create("vertex.generate_content", body("who am I?")))
    assert text_of(second).startswith(
        'You said: "who am I?". This is user turn 2; your first message was: "I am Ada".'
    )
    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url))
    third = await client.aio.models.generate_content(
        model="local",
        contents="and now over HTTP",
        config=types.GenerateContentConfig(
            http_options=types.HttpOptions(extra_body={"rhone": {"session_id": session_id}})
        ),
    )
    assert third.text.startswith(
        'You said: "and now over HTTP". This is user turn 3; your first message was: "I am Ada".'
    )
    # And the socket sees the HTTP turn.
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session(session_id)
        fourth = await chunks(ws.create("gemini.generate_content", body("fourth")))
    assert "This is user turn 4;" in text_of(fourth)


async def test_function_call_round_trip_on_a_socket(base_url: str):
    weather = {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ]
    }
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session()
        asked = await chunks(
            ws.create(
                "vertex.generate_content",
                body('Use get_weather with {"city": "Rome"}', tools=[weather]),
            )
        )
        (call,) = [c for r in asked for c in r.function_calls or []]
        assert call.name == "get_weather" and call.args == {"city": "Rome"}
        result = types.Part.from_function_response(name="get_weather", response={"t": "25C"})
        answered = await chunks(
            ws.create(
                "vertex.generate_content",
                {
                    "model": "local",
                    "contents": [
                        {
                            "role": "user",
                            "parts": [
                                result.model_dump(mode="json", by_alias=True, exclude_none=True)
                            ],
                        }
                    ],
                    "tools": [weather],
                },
            )
        )
    assert text_of(answered) == 'Tool get_weather returned: {"t":"25C"}'


@pytest.mark.parametrize("surface", list(SURFACES))
async def test_errors_are_call_errors_in_googles_shape(base_url: str, surface: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as unknown:
            await chunks(ws.create(surface, {**body("x"), "model": "nope-1"}))
        assert unknown.value.code == "model_not_found" and unknown.value.status == 404
        assert unknown.value.error["error"]["status"] == "NOT_FOUND"
        with pytest.raises(RhoneWsError) as no_model:
            await chunks(ws.create(surface, {"contents": [{"parts": [{"text": "x"}]}]}))
        assert no_model.value.code == "invalid_request" and no_model.value.status == 400
        assert no_model.value.error["error"]["status"] == "INVALID_ARGUMENT"
        with pytest.raises(RhoneWsError) as empty:
            await chunks(ws.create(surface, {"model": "local", "contents": []}))
        assert empty.value.status == 400 and "contents" in empty.value.error["error"]["message"]
        # The socket still serves calls after the failures.
        assert text_of(await chunks(ws.create(surface, body("still here")))).startswith(
            'You said: "still here".'
        )
