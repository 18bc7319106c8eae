"""Any surface reaches any model: each surface's official SDK against models of other
providers, through their fake upstreams, tools and thinking included."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Text, Thinking, ToolCall
from tests.integration.conftest import API_KEY

CLAUDE = "claude-sonnet-4-6"
GEMINI = "gemini-2.5-flash"
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


@pytest.fixture
def claude_client(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0)


@pytest.fixture
def openai_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def session(message) -> dict:
    return {"rhone": {"session_id": message.model_extra["rhone"]["session_id"]}}


# Anthropic Messages surface


def test_anthropic_stream_on_claude_text_and_thinking(claude_client, fake_anthropic: FakeAnthropic):
    fake_anthropic.script(
        Text(
            chunks=["Bonjour", " !"],
            thinking=Thinking(chunks=["Hmm", "..."], signature="c2lnLWNsYXVkZQ=="),
        )
    )
    with claude_client.messages.stream(
        model=CLAUDE,
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert (thinking.thinking, thinking.signature) == ("Hmm...", "c2lnLWNsYXVkZQ==")
    assert text.text == "Bonjour !"
    assert fake_anthropic.last_request.body["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2000,
    }


def test_anthropic_stream_tool_use_round_trips_on_claude(
    claude_client, fake_anthropic: FakeAnthropic
):
    fake_anthropic.script(
        ToolCall("get_weather", ['{"city": ', '"Paris"}'], call_id="toolu_01"),
        Text(chunks=["Sunny in Paris."]),
    )
    tools = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    with claude_client.messages.stream(
        model=CLAUDE,
        max_tokens=200,
        tools=tools,
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        asked = stream.get_final_message()
    (tool_use,) = [b for b in asked.content if b.type == "tool_use"]
    assert (tool_use.id, tool_use.input) == ("toolu_01", {"city": "Paris"})
    with claude_client.messages.stream(
        model=CLAUDE,
        max_tokens=200,
        tools=tools,
        messages=[
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}],
            }
        ],
        extra_body=session(asked),
    ) as stream:
        answered = stream.get_final_message()
    assert answered.content[0].text == "Sunny in Paris."
    sent = fake_anthropic.last_request.body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_01"


def test_anthropic_stream_tool_use_round_trips_on_gemini(claude_client, fake_gemini: FakeGemini):
    fake_gemini.script(
        ToolCall("get_weather", ['{"city": "Oslo"}']),
        Text(chunks=["Cold in Oslo."]),
    )
    tools = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]
    with claude_client.messages.stream(
        model=GEMINI,
        max_tokens=200,
        tools=tools,
        messages=[{"role": "user", "content": "weather?"}],
    ) as stream:
        asked = stream.get_final_message()
    assert asked.stop_reason == "tool_use"
    (tool_use,) = [b for b in asked.content if b.type == "tool_use"]
    assert tool_use.input == {"city": "Oslo"}
    answered = claude_client.messages.create(
        model=GEMINI,
        max_tokens=200,
        tools=tools,
        messages=[
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "-5C"}],
            }
        ],
        extra_body=session(asked),
    )
    assert answered.content[0].text == "Cold in Oslo."
    contents = fake_gemini.last_request.body["contents"]
    response_part = contents[-1]["parts"][0]["functionResponse"]
    assert response_part["name"] == "get_weather"


def test_anthropic_stream_on_an_openai_model(claude_client, fake_openai: FakeOpenAI):
    fake_openai.script(Text(chunks=["from", " gpt"]))
    with claude_client.messages.stream(
        model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "from gpt" and final.stop_reason == "end_turn"
    assert fake_openai.last_request.body["max_completion_tokens"] == 50


def test_openai_chat_with_tools_on_claude(openai_client, fake_anthropic: FakeAnthropic):
    fake_anthropic.script(
        ToolCall("get_weather", ['{"city": "Rome"}'], call_id="toolu_9"), Text(chunks=["Warm."])
    )
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    asked = openai_client.chat.completions.create(
        model=CLAUDE, messages=[{"role": "user", "content": "weather?"}], tools=tools
    )
    (call,) = asked.choices[0].message.tool_calls
    assert (call.id, call.function.name) == ("toolu_9", "get_weather")
    assert asked.choices[0].finish_reason == "tool_calls"
    answered = openai_client.chat.completions.create(
        model=CLAUDE,
        messages=[{"role": "tool", "tool_call_id": "toolu_9", "content": "25C"}],
        tools=tools,
        extra_body=session(asked),
    )
    assert answered.choices[0].message.content == "Warm."


# OpenAI Responses surface: three turns chained only by previous_response_id


PROVIDERS = {"local": "local", "claude": CLAUDE, "gemini": GEMINI}


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_responses_three_turns_by_previous_response_id(
    openai_client,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    provider: str,
    streamed: bool,
):
    model = PROVIDERS[provider]
    fakes = {"claude": fake_anthropic, "gemini": fake_gemini}
    if provider in fakes:
        fakes[provider].script(Text(chunks=["one"]), Text(chunks=["two"]), Text(chunks=["three"]))

    def turn(text: str, previous: str | None):
        kwargs = {"model": model, "input": text}
        if previous:
            kwargs["previous_response_id"] = previous
        if not streamed:
            return openai_client.responses.create(**kwargs)
        with openai_client.responses.stream(**kwargs) as stream:
            return stream.get_final_response()

    first = turn("first question", None)
    second = turn("second question", first.id)
    third = turn("third question", second.id)
    if provider == "local":
        assert third.output_text == (
            'You said: "third question". This is user turn 3; '
            'your first message was: "first question".'
        )
        return
    assert [first.output_text, second.output_text, third.output_text] == ["one", "two", "three"]
    body = fakes[provider].last_request.body
    history = body["messages"] if provider == "claude" else body["contents"]
    assert len(history) == 5, "the third call carries the whole conversation upstream"


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
def test_responses_function_call_round_trip(
    openai_client, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini, model: str
):
    fake = fake_anthropic if model == CLAUDE else fake_gemini
    fake.script(
        ToolCall("get_weather", ['{"city": "Nice"}'], call_id="call_nice"), Text(chunks=["Mild."])
    )
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA}]
    with openai_client.responses.stream(model=model, input="weather?", tools=tools) as stream:
        asked = stream.get_final_response()
    (call,) = [i for i in asked.output if i.type == "function_call"]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Nice"}
    answered = openai_client.responses.create(
        model=model,
        previous_response_id=asked.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18C"}],
        tools=tools,
    )
    assert answered.output_text == "Mild."


# Gemini and Vertex surfaces


def genai_client(base_url: str, vertex: bool) -> genai.Client:
    options = types.HttpOptions(base_url=base_url)
    if vertex:
        return genai.Client(vertexai=True, api_key=API_KEY, http_options=options)
    return genai.Client(api_key=API_KEY, http_options=options)


WEATHER_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER_SCHEMA)
    ]
)


@pytest.mark.parametrize("vertex", [False, True], ids=["gemini_surface", "vertex_surface"])
def test_google_surfaces_call_their_own_provider_by_default(
    base_url: str, fake_gemini: FakeGemini, fake_vertex: FakeGemini, vertex: bool
):
    own, other = (fake_vertex, fake_gemini) if vertex else (fake_gemini, fake_vertex)
    own.script(Text(chunks=["Ciao", "!"]))
    client = genai_client(base_url, vertex)
    chunks = list(client.models.generate_content_stream(model=GEMINI, contents="hi"))
    assert "".join(c.text or "" for c in chunks) == "Ciao!"
    assert len(own.requests) == 1 and len(other.requests) == 0


@pytest.mark.parametrize("vertex", [False, True], ids=["gemini_surface", "vertex_surface"])
def test_google_function_calling_round_trips_on_gemini(
    base_url: str, fake_gemini: FakeGemini, fake_vertex: FakeGemini, vertex: bool
):
    fake = fake_vertex if vertex else fake_gemini
    fake.script(ToolCall("get_weather", ['{"city": "Milan"}']), Text(chunks=["Foggy."]))
    client = genai_client(base_url, vertex)
    config = types.GenerateContentConfig(tools=[WEATHER_TOOL])
    asked = client.models.generate_content(model=GEMINI, contents="weather?", config=config)
    (call,) = asked.function_calls
    assert (call.name, call.args) == ("get_weather", {"city": "Milan"})
    sid = asked.sdk_http_response.headers["x-rhone-session-id"]
    answered = client.models.generate_content(
        model=GEMINI,
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(name="get_weather", response={"fog": True})
                ],
            )
        ],
        config=types.GenerateContentConfig(
            tools=[WEATHER_TOOL],
            http_options=types.HttpOptions(extra_body={"rhone": {"session_id": sid}}),
        ),
    )
    assert answered.text == "Foggy."


def test_google_function_calling_round_trips_on_claude(
    base_url: str, fake_anthropic: FakeAnthropic
):
    fake_anthropic.script(
        ToolCall("get_weather", ['{"city": "Lima"}'], call_id="toolu_lima"), Text(chunks=["Humid."])
    )
    client = genai_client(base_url, vertex=False)
    config = types.GenerateContentConfig(tools=[WEATHER_TOOL])
    asked = client.models.generate_content(model=CLAUDE, contents="weather?", config=config)
    (call,) = asked.function_calls
    assert call.args == {"city": "Lima"}
    sid = asked.sdk_http_response.headers["x-rhone-session-id"]
    # google-genai answers without the call's id: Rhone pairs it with the stored call.
    answered = client.models.generate_content(
        model=CLAUDE,
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(name="get_weather", response={"humidity": 90})
                ],
            )
        ],
        config=types.GenerateContentConfig(
            tools=[WEATHER_TOOL],
            http_options=types.HttpOptions(extra_body={"rhone": {"session_id": sid}}),
        ),
    )
    assert answered.text == "Humid."
    sent = fake_anthropic.last_request.body["messages"]
    assert sent[-1]["content"][0]["tool_use_id"] == "toolu_lima"
