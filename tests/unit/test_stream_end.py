"""The facade's last word on a stream cut off below it, and the translator's on a provider
stream that stops without one: each surface's own error signal, continuing what was sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import orjson
import pytest

from rhone import canonical as ev
from rhone.dialects import anthropic_messages, gemini, openai_chat, openai_responses
from rhone.dialects.base import Dialect
from rhone.sse import SseDecoder
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.facade.stream_end import INTERRUPTED, stream_end_for
from services.translator.calls import CallHandler, framer_for

BEGUN = [
    ev.started("up-1", "local", "local"),
    ev.part_started(0, gen.PART_KIND_TEXT),
    ev.text_delta(0, "Hello"),
    ev.text_delta(0, " wor"),
]
BODIES = {
    "chat": {"model": "local", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    "responses": {"model": "local", "stream": True, "input": "hi"},
    "anthropic": {
        "model": "local",
        "stream": True,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    },
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}


def sse_events(raw: bytes) -> list[tuple[str | None, dict]]:
    decoder = SseDecoder()
    events = [*decoder.feed(raw.decode()), *decoder.close()]
    return [(e.event, orjson.loads(e.data)) for e in events if e.data != "[DONE]"]


def begun_frames(dialect: Dialect, body: dict, params: dict[str, str] | None = None) -> bytes:
    """What the translator wrote before the cut, frame by frame, as one stream."""
    decoded = dialect.decode_request(body, params or {})
    decoded.options["response_id"] = "resp_abc"
    encoder = dialect.stream_encoder(decoded, {"session_id": "sess_1"})
    return b"".join(
        b"".join(
            (b"event: " + i.event.encode() + b"\n" if i.event else b"")
            + b"data: "
            + i.data
            + b"\n\n"
            for i in encoder.encode(event)
        )
        for event in BEGUN
    )


def cut(surface: int, dialect: Dialect, content_type: str, frames: list[bytes]) -> bytes:
    end = stream_end_for(surface, dialect, content_type)
    for frame in frames:
        end.observe(frame)
    return end.closing(INTERRUPTED)


def test_chat_ends_with_an_error_chunk():
    raw = begun_frames(openai_chat.DIALECT, BODIES["chat"])
    closing = cut(tpb.SURFACE_OPENAI_CHAT, openai_chat.DIALECT, "text/event-stream", [raw])
    (event, data), *rest = sse_events(closing)
    assert rest == [] and event is None
    assert data["error"]["code"] == "stream_interrupted"
    assert data["error"]["message"].startswith("The answer was cut off")


def test_anthropic_ends_with_an_error_event():
    dialect = anthropic_messages.DIALECT
    closing = cut(tpb.SURFACE_ANTHROPIC_MESSAGES, dialect, "text/event-stream", [b"x"])
    [(event, data)] = sse_events(closing)
    assert event == "error" and data["type"] == "error"
    assert data["error"]["type"] == "api_error"
    assert data["error"]["message"].startswith("The answer was cut off")


def test_gemini_sse_ends_with_an_error_object():
    closing = cut(tpb.SURFACE_GEMINI, gemini.DIALECT, "text/event-stream", [b"data: {}\n\n"])
    [(_, data)] = sse_events(closing)
    assert data["error"]["code"] == 503 and data["error"]["status"] == "UNAVAILABLE"


@pytest.mark.parametrize("opened", [True, False])
def test_gemini_json_array_is_closed_with_an_error_element(opened: bool):
    frames = [b'[{"candidates":[]}', b',\r\n{"candidates":[]}'] if opened else []
    closing = cut(tpb.SURFACE_GEMINI, gemini.DIALECT, "application/json", frames)
    elements = orjson.loads(b"".join(frames) + closing)
    assert elements[-1]["error"]["code"] == 503
    assert len(elements) == (3 if opened else 1)


def test_responses_fail_the_response_that_was_created_at_the_next_sequence_number():
    raw = begun_frames(openai_responses.DIALECT, BODIES["responses"])
    # The translator's frames arrive in pieces; the first holds response.created.
    first, second = raw[: raw.index(b"\n\n") + 2], raw[raw.index(b"\n\n") + 2 :]
    closing = cut(
        tpb.SURFACE_OPENAI_RESPONSES,
        openai_responses.DIALECT,
        "text/event-stream",
        [first, second],
    )
    sent = sse_events(raw)
    [(event, data)] = sse_events(closing)
    assert event == "response.failed" and data["type"] == "response.failed"
    assert data["sequence_number"] == len(sent)
    assert data["response"]["id"] == sent[0][1]["response"]["id"] == "resp_abc"
    assert data["response"]["status"] == "failed"
    assert data["response"]["error"]["code"] == "server_error"


@pytest.mark.parametrize(
    ("surface", "dialect", "content_type", "frames", "expected"),
    [
        (
            tpb.SURFACE_OPENAI_CHAT,
            openai_chat.DIALECT,
            "text/event-stream",
            [b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'],
            b"",
        ),
        (
            tpb.SURFACE_ANTHROPIC_MESSAGES,
            anthropic_messages.DIALECT,
            "text/event-stream",
            [b'event: message_stop\ndata: {"type":"message_stop"}\n\n'],
            b"",
        ),
        (
            tpb.SURFACE_OPENAI_RESPONSES,
            openai_responses.DIALECT,
            "text/event-stream",
            [b'event: response.completed\ndata: {"type":"response.completed"}\n\n'],
            b"",
        ),
        (
            tpb.SURFACE_GEMINI,
            gemini.DIALECT,
            "application/json",
            [b'[{"candidates":[{"finishReason":"STOP"}]}'],
            b"]",
        ),
        (
            tpb.SURFACE_GEMINI,
            gemini.DIALECT,
            "application/json",
            [b'[{"candidates":[{"finishReason":"STOP"}]}', b"]"],
            b"",
        ),
    ],
)
def test_a_stream_whose_last_event_passed_is_left_whole(
    surface: int, dialect: Dialect, content_type: str, frames: list[bytes], expected: bytes
):
    """The translator died between the stream's last event and its trailer: the answer is
    whole (and recorded), so nothing is added but what closes the framing."""
    assert cut(surface, dialect, content_type, frames) == expected


def test_a_socket_stream_ends_with_the_shapes_own_event_on_a_line():
    frames = [b'{"type":"response.created","sequence_number":0,"response":{"id":"resp_x"}}\n']
    closing = cut(
        tpb.SURFACE_OPENAI_RESPONSES, openai_responses.DIALECT, "application/x-ndjson", frames
    )
    event = orjson.loads(closing)
    assert closing.endswith(b"\n") and event["type"] == "response.failed"
    assert event["sequence_number"] == 1 and event["response"]["id"] == "resp_x"


def test_text_that_quotes_a_last_event_does_not_end_the_stream():
    chunk = b'data: {"choices":[{"delta":{"content":"\\"finish_reason\\":\\"stop"}}]}\n\n'
    assert cut(tpb.SURFACE_OPENAI_CHAT, openai_chat.DIALECT, "text/event-stream", [chunk])
    raw = b'event: content_block_delta\ndata: {"text":"\\"type\\":\\"message_stop\\""}\n\n'
    assert cut(
        tpb.SURFACE_ANTHROPIC_MESSAGES, anthropic_messages.DIALECT, "text/event-stream", [raw]
    )


class _CutTurn:
    """A turn whose provider stream stops after BEGUN, without finished or failure."""

    session_id = existing_session_id = "sess_1"
    completed = False
    response_id = ""
    accumulator = SimpleNamespace(response=gen.GenerateResponse())
    composed = SimpleNamespace(request=gen.GenerateRequest(model="m"))

    async def batches(self) -> AsyncIterator[list[gen.GenerationEvent]]:
        for event in BEGUN:
            yield [event]


@pytest.mark.parametrize(
    ("name", "surface", "dialect", "params"),
    [
        ("chat", tpb.SURFACE_OPENAI_CHAT, openai_chat.DIALECT, {}),
        ("responses", tpb.SURFACE_OPENAI_RESPONSES, openai_responses.DIALECT, {}),
        ("anthropic", tpb.SURFACE_ANTHROPIC_MESSAGES, anthropic_messages.DIALECT, {}),
        ("gemini", tpb.SURFACE_GEMINI, gemini.DIALECT, {"alt": "sse"}),
    ],
)
async def test_translator_ends_a_provider_stream_without_a_last_word_as_failed(
    name: str, surface: int, dialect: Dialect, params: dict[str, str]
):
    decoded = dialect.decode_request(BODIES[name], params)
    request = tpb.CallRequest(surface=surface, transport=tpb.TRANSPORT_HTTP, params=params)
    handler = CallHandler(runner=None, compactor=None)  # type: ignore[arg-type]
    frames = [
        frame
        async for frame in handler._stream(dialect, decoded, _CutTurn(), framer_for(request))  # type: ignore[arg-type]
    ]
    # One trailer, carrying the failure (the stream's closing bytes may follow it).
    trailers = [frame.trailer for frame in frames if frame.HasField("trailer")]
    assert len(trailers) == 1 and trailers[0].HasField("failure")
    raw = b"".join(frame.data for frame in frames if frame.HasField("data"))
    events = sse_events(raw)
    last_event, last = events[-1]
    if name == "chat":
        assert "error" in last
    elif name == "responses":
        assert last_event == "response.failed"
    elif name == "anthropic":
        assert last_event == "error"
    else:
        assert last["error"]["code"] == 503
