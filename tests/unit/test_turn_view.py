"""A stored turn as the sessions API shows it: the public APIs' vocabulary, not proto JSON."""

from __future__ import annotations

import orjson

from rhone.v1 import content_pb2 as c
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from services.facade.turn_view import rfc3339, turn_view


def test_a_tool_turn_reads_like_the_public_apis() -> None:
    turn = spb.Turn(
        id="turn_1",
        session_id="sess_1",
        seq=7,
        model="gpt-4o",
        provider="openai",
        status=spb.TURN_STATUS_COMPLETED,
        finish_reason=gen.FINISH_REASON_TOOL_CALLS,
        created_at_ms=1_764_169_445_123,
        duration_ms=850,
        response_id="chatcmpl-1",
        usage=gen.Usage(input_tokens=120, output_tokens=9, cached_input_tokens=100),
        input=[
            c.Message(
                role=c.ROLE_USER,
                parts=[
                    c.Part(text=c.TextPart(text="Weather in Paris?")),
                    c.Part(image=c.ImagePart(data=b"\x89PNG", media_type="image/png")),
                ],
            ),
            c.Message(
                role=c.ROLE_TOOL,
                parts=[
                    c.Part(
                        tool_result=c.ToolResultPart(
                            call_id="call_0",
                            name="weather",
                            content=[c.Part(text=c.TextPart(text="18C"))],
                        )
                    )
                ],
            ),
        ],
        output=c.Message(
            role=c.ROLE_ASSISTANT,
            parts=[
                c.Part(thinking=c.ThinkingPart(text="Look it up.", signature="opaque")),
                c.Part(
                    tool_call=c.ToolCallPart(
                        id="call_1", name="weather", arguments='{"city": "Paris"}', signature="s"
                    )
                ),
            ],
        ),
    )
    view = turn_view(turn)
    assert view == {
        "id": "turn_1",
        "object": "session.turn",
        "session_id": "sess_1",
        "seq": 7,
        "created_at": "2025-11-26T15:04:05.123Z",
        "duration_ms": 850,
        "model": "gpt-4o",
        "provider": "openai",
        "status": "completed",
        "finish_reason": "tool_calls",
        "snapshot": False,
        "response_id": "chatcmpl-1",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather in Paris?"},
                    {"type": "image", "media_type": "image/png", "data": "iVBORw=="},
                ],
            },
            {
                "role": "tool",
                "content": [
                    {
                        "type": "tool_result",
                        "call_id": "call_0",
                        "name": "weather",
                        "content": [{"type": "text", "text": "18C"}],
                        "is_error": False,
                    }
                ],
            },
        ],
        "output": {
            "role": "assistant",
            "content": [
                {"type": "thinking", "text": "Look it up."},
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "weather",
                    "arguments": '{"city": "Paris"}',
                },
            ],
        },
        "usage": {
            "input_tokens": 120,
            "output_tokens": 9,
            "cached_input_tokens": 100,
            "cache_creation_input_tokens": 0,
            "reasoning_tokens": 0,
        },
    }
    orjson.dumps(view)  # all of it is JSON


def test_an_unfinished_turn_without_output_says_so_plainly() -> None:
    view = turn_view(spb.Turn(id="turn_2", seq=1, status=spb.TURN_STATUS_INCOMPLETE, snapshot=True))
    assert view["status"] == "incomplete" and view["snapshot"] is True
    assert view["finish_reason"] is None and view["output"] is None
    assert view["response_id"] is None


def test_response_settings_are_an_object_and_cache_breakpoints_show() -> None:
    turn = spb.Turn(
        response_settings_json='{"temperature": 0.5}',
        input=[
            c.Message(
                role=c.ROLE_SYSTEM,
                parts=[
                    c.Part(
                        text=c.TextPart(text="Be brief."),
                        cache_control=c.CacheControl(type="ephemeral", ttl="1h"),
                    )
                ],
            )
        ],
    )
    view = turn_view(turn)
    assert view["response_settings"] == {"temperature": 0.5}
    assert view["input"][0] == {
        "role": "system",
        "content": [
            {
                "type": "text",
                "text": "Be brief.",
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
    }


def test_times_are_rfc3339_in_utc() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1_764_169_445_123) == "2025-11-26T15:04:05.123Z"
