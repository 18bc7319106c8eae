"""The offline local model: deterministic answers from the whole transcript."""

from __future__ import annotations

import orjson
import pytest

from rhone.canonical import fold_events
from rhone.v1 import content_pb2 as c
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.local import LocalConnector
from services.providers.connectors.local_model import reply_to
from services.providers.routing import Deployment


def msg(role: int, text: str) -> c.Message:
    return c.Message(role=role, parts=[c.Part(text=c.TextPart(text=text))])  # type: ignore[arg-type]


def weather_tool() -> gen.Tool:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    }
    return gen.Tool(
        name="get_weather", description="Weather", parameters_json=orjson.dumps(schema).decode()
    )


def test_answer_counts_user_turns_and_repeats_the_first():
    request = gen.GenerateRequest(
        model="local",
        messages=[
            msg(c.ROLE_USER, "My name is Ada."),
            msg(c.ROLE_ASSISTANT, "Hello."),
            msg(c.ROLE_USER, "What is my name?"),
        ],
    )
    reply = reply_to(request)
    assert reply.text == (
        'You said: "What is my name?". This is user turn 2; '
        'your first message was: "My name is Ada.".'
    )
    assert reply.finish == gen.FINISH_REASON_STOP


def test_system_prompt_is_quoted():
    request = gen.GenerateRequest(
        messages=[msg(c.ROLE_SYSTEM, "Be brief."), msg(c.ROLE_USER, "hi")]
    )
    assert reply_to(request).text.endswith(' System: "Be brief.".')


def test_calls_the_named_tool_with_arguments_from_the_message():
    request = gen.GenerateRequest(
        messages=[msg(c.ROLE_USER, "Use get_weather for 3 days")], tools=[weather_tool()]
    )
    reply = reply_to(request)
    assert reply.text == ""
    assert reply.finish == gen.FINISH_REASON_TOOL_CALLS
    (call_id, name, arguments) = reply.tool_calls[0]
    assert call_id.startswith("call_") and name == "get_weather"
    assert orjson.loads(arguments) == {"city": "Use get_weather for 3 days", "days": 3}


def test_json_object_in_the_message_becomes_the_arguments():
    request = gen.GenerateRequest(
        messages=[msg(c.ROLE_USER, 'call it with {"city": "Paris"}')], tools=[weather_tool()]
    )
    assert orjson.loads(reply_to(request).tool_calls[0][2]) == {"city": "Paris"}


def test_no_tool_call_when_not_asked_or_choice_none():
    plain = gen.GenerateRequest(messages=[msg(c.ROLE_USER, "hello there")], tools=[weather_tool()])
    assert reply_to(plain).tool_calls == []
    refused = gen.GenerateRequest(
        messages=[msg(c.ROLE_USER, "use get_weather")],
        tools=[weather_tool()],
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_NONE),
    )
    assert reply_to(refused).tool_calls == []


def test_tool_result_is_reported_by_tool_name():
    call = c.Part(tool_call=c.ToolCallPart(id="call_1", name="get_weather", arguments="{}"))
    result = c.Part(
        tool_result=c.ToolResultPart(
            call_id="call_1", content=[c.Part(text=c.TextPart(text="sunny"))]
        )
    )
    request = gen.GenerateRequest(
        messages=[
            msg(c.ROLE_USER, "use get_weather"),
            c.Message(role=c.ROLE_ASSISTANT, parts=[call]),
            c.Message(role=c.ROLE_TOOL, parts=[result]),
        ]
    )
    assert reply_to(request).text == "Tool get_weather returned: sunny"


@pytest.mark.parametrize(
    ("config", "text", "finish"),
    [
        (gen.GenerationConfig(max_tokens=3), 'You said: "a".', gen.FINISH_REASON_LENGTH),
        (
            gen.GenerationConfig(stop=["turn"]),
            'You said: "a". This is user ',
            gen.FINISH_REASON_STOP_SEQUENCE,
        ),
    ],
    ids=["max_tokens_cuts", "stop_sequence_cuts"],
)
def test_limits(config: gen.GenerationConfig, text: str, finish: int):
    reply = reply_to(gen.GenerateRequest(messages=[msg(c.ROLE_USER, "a")], config=config))
    assert (reply.text, reply.finish) == (text, finish)


def test_json_schema_answer_is_an_instance():
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "turns": {"type": "integer"}},
    }
    request = gen.GenerateRequest(
        messages=[msg(c.ROLE_USER, "hi")],
        config=gen.GenerationConfig(
            response_format=gen.ResponseFormat(
                type=gen.ResponseFormat.TYPE_JSON_SCHEMA, schema_json=orjson.dumps(schema).decode()
            )
        ),
    )
    assert orjson.loads(reply_to(request).text) == {"answer": "hi", "turns": 1}


async def test_stream_folds_to_the_reply_with_thinking_first():
    request = gen.GenerateRequest(
        model="local",
        messages=[msg(c.ROLE_USER, "hello")],
        config=gen.GenerationConfig(thinking_budget=1024),
    )
    connector = LocalConnector()
    events = [e async for e in connector.stream(request, Deployment("local", "local"))]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "started" and kinds[-2:] == ["usage", "finished"]
    folded = fold_events(events)
    thinking, text = folded.message.parts
    assert thinking.thinking.text == "Counting user turns: 1."
    assert thinking.thinking.signature.startswith("local-")
    assert thinking.thinking.origin == "local"
    assert text.text.text == reply_to(request).text
    assert folded.usage.input_tokens == 1 and folded.usage.output_tokens > 0
