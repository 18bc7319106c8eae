"""Every upstream connector through the Chat Completions surface, with the official openai SDK
as the client and each provider's fake as the upstream: OpenAI, Anthropic, Gemini, Vertex
(project mode and express mode) and a named OpenAI-compatible server. Each test asserts what
the client sees and what the fake received (path, auth, body in the provider's own shape)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import grpc
import openai
import pytest
from google import genai
from google.genai import types

from rhone.launcher import Cluster
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc
from tests.fakes.scenarios import CutMidStream, Error, Hang, Text, Thinking, ToolCall
from tests.fakes.server import FakeServer, RecordedRequest
from tests.integration.conftest import (
    API_KEY,
    COMPAT_PROVIDER,
    UNSET_KEY_ENV,
    UPSTREAM_ANTHROPIC_KEY,
    UPSTREAM_COMPAT_KEY,
    UPSTREAM_GEMINI_KEY,
    UPSTREAM_OPENAI_KEY,
    UPSTREAM_VERTEX_KEY,
    UPSTREAM_VERTEX_TOKEN,
    VERTEX_LOCATION,
    VERTEX_PROJECT,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


# -- what each wire format looks like, read back from the fake's record ---------------------


def _text_of(value: Any) -> str:
    """A content that is a string or a list of text blocks/parts, as one string."""
    if isinstance(value, str):
        return value
    return "".join(
        item.get("text", "") for item in value or [] if isinstance(item, dict) and "text" in item
    )


def chat_texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], _text_of(m.get("content"))) for m in body["messages"]]


def anthropic_texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    system = [("system", _text_of(body["system"]))] if "system" in body else []
    return system + [(m["role"], _text_of(m["content"])) for m in body["messages"]]


def gemini_texts(body: dict[str, Any]) -> list[tuple[str, str]]:
    system = body.get("systemInstruction")
    texts = [("system", _text_of(system["parts"]))] if system else []
    return texts + [(c["role"], _text_of(c["parts"])) for c in body["contents"]]


def chat_tool_result(body: dict[str, Any]) -> tuple[str, str]:
    (message,) = [m for m in body["messages"] if m["role"] == "tool"]
    return message["tool_call_id"], _text_of(message["content"])


def anthropic_tool_result(body: dict[str, Any]) -> tuple[str, str]:
    blocks = [
        block
        for m in body["messages"]
        if isinstance(m["content"], list)
        for block in m["content"]
        if block.get("type") == "tool_result"
    ]
    (block,) = blocks
    return block["tool_use_id"], _text_of(block["content"])


def gemini_tool_result(body: dict[str, Any]) -> tuple[str, str]:
    """Gemini answers a call by function name; the response is an object we serialise."""
    responses = [
        part["functionResponse"]
        for c in body["contents"]
        for part in c["parts"]
        if "functionResponse" in part
    ]
    (response,) = responses
    return response["name"], json.dumps(response["response"])


def chat_tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body["tools"]]


def anthropic_tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in body["tools"]]


def gemini_tool_names(body: dict[str, Any]) -> list[str]:
    return [d["name"] for tool in body["tools"] for d in tool["functionDeclarations"]]


@dataclass(frozen=True)
class Wire:
    texts: Callable[[dict[str, Any]], list[tuple[str, str]]]
    tool_result: Callable[[dict[str, Any]], tuple[str, str]]
    tool_names: Callable[[dict[str, Any]], list[str]]
    # True: the tool result names the call by id (chat, anthropic); False: by function name.
    results_by_id: bool = True


CHAT = Wire(chat_texts, chat_tool_result, chat_tool_names)
ANTHROPIC = Wire(anthropic_texts, anthropic_tool_result, anthropic_tool_names)
GEMINI = Wire(gemini_texts, gemini_tool_result, gemini_tool_names, results_by_id=False)


@dataclass(frozen=True)
class Upstream:
    name: str
    model: str  # what the client asks for
    fake: str  # the fixture of the fake that must answer
    path: str
    headers: dict[str, str]
    wire: Wire
    body_model: str | None  # the model named in the body; None: in the URL (Gemini)

    def check_request(self, recorded: RecordedRequest, *, streamed: bool) -> None:
        """Rhone streams from the upstream when its client streams, and asks for the whole
        answer at once when it does not."""
        assert recorded.method == "POST"
        whole_path = self.path.replace(":streamGenerateContent", ":generateContent")
        assert recorded.path == (self.path if streamed else whole_path)
        for name, value in self.headers.items():
            assert recorded.headers.get(name) == value, name
        if self.body_model is None:
            assert "model" not in recorded.body
            # The key never rides in the URL.
            assert recorded.query == ({"alt": "sse"} if streamed else {})
        else:
            assert recorded.body["model"] == self.body_model
            assert bool(recorded.body.get("stream")) is streamed


VERTEX_MODELS = (
    f"/v1/projects/{VERTEX_PROJECT}/locations/{VERTEX_LOCATION}/publishers/google/models"
)
UPSTREAMS = [
    Upstream(
        "openai",
        "gpt-4o-mini",
        "fake_openai",
        "/v1/chat/completions",
        {"authorization": f"Bearer {UPSTREAM_OPENAI_KEY}"},
        CHAT,
        "gpt-4o-mini",
    ),
    Upstream(
        "anthropic",
        "claude-sonnet-4-6",
        "fake_anthropic",
        "/v1/messages",
        {"x-api-key": UPSTREAM_ANTHROPIC_KEY, "anthropic-version": "2023-06-01"},
        ANTHROPIC,
        "claude-sonnet-4-6",
    ),
    Upstream(
        "gemini",
        "gemini-2.5-flash",
        "fake_gemini",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        {"x-goog-api-key": UPSTREAM_GEMINI_KEY},
        GEMINI,
        None,
    ),
    Upstream(
        "vertex",
        "vertex/gemini-2.5-pro",
        "fake_vertex",
        f"{VERTEX_MODELS}/gemini-2.5-pro:streamGenerateContent",
        {"authorization": f"Bearer {UPSTREAM_VERTEX_TOKEN}"},
        GEMINI,
        None,
    ),
    Upstream(
        "vertex-express",
        "vertex-express",  # an alias of the routing config, with its own key
        "fake_vertex",
        "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
        {"x-goog-api-key": UPSTREAM_VERTEX_KEY},
        GEMINI,
        None,
    ),
    Upstream(
        "openai-compatible",
        f"{COMPAT_PROVIDER}/llama-3.1-8b",
        "fake_compat",
        "/v1/chat/completions",
        {"authorization": f"Bearer {UPSTREAM_COMPAT_KEY}"},
        CHAT,
        "llama-3.1-8b",
    ),
]


@pytest.fixture(params=UPSTREAMS, ids=[u.name for u in UPSTREAMS])
def upstream(request: pytest.FixtureRequest) -> Upstream:
    return request.param


@pytest.fixture
def fake(upstream: Upstream, request: pytest.FixtureRequest) -> FakeServer:
    fake: FakeServer = request.getfixturevalue(upstream.fake)
    fake.reset()
    return fake


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def session(reply: Any) -> dict[str, Any]:
    return {"rhone": {"session_id": reply.model_extra["rhone"]["session_id"]}}


# -- each upstream: plain, streamed, tool calls, retries, errors ------------------------------


def test_plain_completion_through_each_upstream(
    client: openai.OpenAI, upstream: Upstream, fake: FakeServer
):
    fake.script(Text(chunks=["Bonjour", " Ada"], usage=(12, 3)))
    completion = client.chat.completions.create(
        model=upstream.model,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hi"},
        ],
    )
    assert completion.choices[0].message.content == "Bonjour Ada"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 3)
    (recorded,) = fake.requests
    upstream.check_request(recorded, streamed=False)
    assert upstream.wire.texts(recorded.body) == [("system", "Be brief."), ("user", "Say hi")]


def test_streamed_completion_through_each_upstream(
    client: openai.OpenAI, upstream: Upstream, fake: FakeServer
):
    fake.script(Text(chunks=["one", " two", " three"], usage=(5, 3)))
    chunks = list(
        client.chat.completions.create(
            model=upstream.model,
            messages=[{"role": "user", "content": "count"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert deltas == ["one", " two", " three"]  # streamed as the upstream streamed it
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 8
    (recorded,) = fake.requests
    upstream.check_request(recorded, streamed=True)
    assert upstream.wire.texts(recorded.body) == [("user", "count")]


def test_tool_call_round_trip_through_each_upstream(
    client: openai.OpenAI, upstream: Upstream, fake: FakeServer
):
    fake.script(
        ToolCall("get_weather", ['{"ci', 'ty": "Pa', 'ris"}']),
        Text(chunks=["It is sunny in Paris."]),
    )
    with client.chat.completions.stream(
        model=upstream.model, messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER]
    ) as stream:
        asked = stream.get_final_completion()
    assert asked.choices[0].finish_reason == "tool_calls"
    (call,) = asked.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id
    assert upstream.wire.tool_names(fake.last_request.body) == ["get_weather"]

    answered = client.chat.completions.create(
        model=upstream.model,
        messages=[{"role": "tool", "tool_call_id": call.id, "content": "sunny"}],
        tools=[WEATHER],
        extra_body=session(asked),
    )
    assert answered.choices[0].message.content == "It is sunny in Paris."
    _, second = fake.requests
    upstream.check_request(second, streamed=False)
    named, result = upstream.wire.tool_result(second.body)
    assert named == (call.id if upstream.wire.results_by_id else "get_weather")
    assert "sunny" in result


def test_rate_limit_is_retried_after_retry_after_on_each_upstream(
    client: openai.OpenAI, upstream: Upstream, fake: FakeServer
):
    fake.script(Error(429, retry_after=0.05), Text(chunks=["after retry"]))
    completion = client.chat.completions.create(
        model=upstream.model, messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.content == "after retry"
    assert len(fake.requests) == 2


def test_upstream_bad_request_reaches_the_client_as_400(
    client: openai.OpenAI, upstream: Upstream, fake: FakeServer
):
    fake.script(Error(400, message="max_tokens is too large"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=upstream.model, messages=[{"role": "user", "content": "x"}]
        )
    assert "max_tokens is too large" in caught.value.message
    assert len(fake.requests) == 1  # a bad request is not retried


# -- failover -----------------------------------------------------------------------------------


def test_failover_alias_answers_from_the_second_deployment(
    client: openai.OpenAI, fake_anthropic: FakeServer, fake_compat: FakeServer
):
    # Every attempt on the first deployment (3 per deployment) is rate limited.
    fake_anthropic.script(*[Error(429, retry_after=0.01)] * 3)
    fake_compat.script(Text(chunks=["from the", " second deployment"]))
    completion = client.chat.completions.create(
        model="failover-alias", messages=[{"role": "user", "content": "anyone?"}]
    )
    assert completion.choices[0].message.content == "from the second deployment"
    assert [r.body["model"] for r in fake_anthropic.requests] == ["claude-failover"] * 3
    (answered,) = fake_compat.requests
    assert answered.body["model"] == "llama-failover"
    assert answered.headers["authorization"] == f"Bearer {UPSTREAM_COMPAT_KEY}"


def test_failover_alias_streams_one_clean_answer(
    client: openai.OpenAI, fake_anthropic: FakeServer, fake_compat: FakeServer
):
    fake_anthropic.script(*[Error(429, retry_after=0.01)] * 3)
    fake_compat.script(Text(chunks=["only", " once"]))
    chunks = list(
        client.chat.completions.create(
            model="failover-alias",
            messages=[{"role": "user", "content": "anyone?"}],
            stream=True,
        )
    )
    assert [c.choices[0].delta.role for c in chunks if c.choices[0].delta.role] == ["assistant"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "only once"
    assert len({c.id for c in chunks}) == 1


# -- Anthropic: a cut stream records nothing, cancellation reaches the socket, thinking --------


def test_anthropic_stream_cut_mid_way_is_a_clean_error_and_records_nothing(
    client: openai.OpenAI, fake_anthropic: FakeServer
):
    first = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "start"}]
    )
    fake_anthropic.script(CutMidStream(after_chunks=1, then=Text(chunks=["partial", " never"])))
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(
                model="claude-sonnet-4-6",
                messages=[{"role": "user", "content": "this turn fails"}],
                stream=True,
                extra_body=session(first),
            )
        )
    after = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "next"}], extra_body=session(first)
    )
    # The failed turn left nothing behind: this is the second user turn, not the third.
    assert "This is user turn 2" in after.choices[0].message.content


def test_client_disconnect_cancels_the_anthropic_call(
    client: openai.OpenAI, fake_anthropic: FakeServer
):
    fake_anthropic.script(Hang())
    stream = client.chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hang"}], stream=True
    )
    next(iter(stream))  # the stream is open end to end
    stream.close()
    assert fake_anthropic.disconnected.wait(10), "the upstream never saw the client leave"


def test_anthropic_thinking_reaches_the_anthropic_sdk_and_stays_off_gemini(
    base_url: str, client: openai.OpenAI, fake_anthropic: FakeServer, fake_gemini: FakeServer
):
    signature = "Q2xhdWRlLXNpZ25lZC10aGlua2luZw=="
    fake_anthropic.script(
        Text(
            chunks=["The answer", " is 4."],
            thinking=Thinking(chunks=["Two plus ", "two."], signature=signature),
        )
    )
    claude = anthropic.Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0)
    with claude.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "2+2?"}],
    ) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert (thinking.type, thinking.thinking, thinking.signature) == (
        "thinking",
        "Two plus two.",
        signature,
    )
    assert (text.type, text.text) == ("text", "The answer is 4.")
    assert fake_anthropic.last_request.body["thinking"] == {
        "type": "enabled",
        "budget_tokens": 2000,
    }

    fake_gemini.script(Text(chunks=["Still 4."]))
    reply = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "and on Gemini?"}],
        extra_body={"rhone": {"session_id": final.model_extra["rhone"]["session_id"]}},
    )
    assert reply.choices[0].message.content == "Still 4."
    contents = fake_gemini.last_request.body["contents"]
    assert gemini_texts(fake_gemini.last_request.body) == [
        ("user", "2+2?"),
        ("model", "The answer is 4."),
        ("user", "and on Gemini?"),
    ]
    parts = [part for c in contents for part in c["parts"]]
    assert not [p for p in parts if p.get("thought") or "thoughtSignature" in p]
    assert signature not in fake_gemini.last_request.raw_body.decode()


# -- the Responses API upstream, listing, missing keys, token counts, provider names ----------


def test_responses_api_upstream_for_a_model_configured_so(
    client: openai.OpenAI, fake_openai: FakeServer
):
    fake_openai.script(
        ToolCall("get_weather", ['{"city":', ' "Oslo"}']), Text(chunks=["Cold", " in Oslo."])
    )
    asked = client.chat.completions.create(
        model="responses-model", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER]
    )
    (call,) = asked.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Oslo"},
    )
    chunks = list(
        client.chat.completions.create(
            model="responses-model",
            messages=[{"role": "tool", "tool_call_id": call.id, "content": "-5C"}],
            tools=[WEATHER],
            stream=True,
            extra_body=session(asked),
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Cold in Oslo."
    )
    first, second = fake_openai.requests
    assert first.path == second.path == "/v1/responses"
    assert second.headers["authorization"] == f"Bearer {UPSTREAM_OPENAI_KEY}"
    body = second.body
    assert (body["model"], body["stream"], body["store"]) == ("gpt-4.1", True, False)
    assert body["tools"][0]["name"] == "get_weather"  # Responses tools are flat
    kinds = [item.get("type", "message") for item in body["input"]]
    assert kinds == ["message", "function_call", "function_call_output"]
    assert body["input"][2] == {**body["input"][2], "call_id": call.id, "output": "-5C"}


def test_model_list_shows_routable_aliases_and_enabled_providers(client: openai.OpenAI):
    ids = {model.id for model in client.models.list()}
    assert {"local", "failover-alias", "vertex-express", "responses-model"} <= ids
    assert {"openai/*", "anthropic/*", "gemini/*", "vertex/*", f"{COMPAT_PROVIDER}/*"} <= ids
    assert "needs-a-key" not in ids  # its key's env var is not set


def test_alias_without_its_key_is_404_naming_the_variable(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="needs-a-key", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "model_not_found"
    assert UNSET_KEY_ENV in caught.value.message


def test_anthropic_counts_tokens_upstream(base_url: str, fake_anthropic: FakeServer):
    claude = anthropic.Anthropic(base_url=base_url, api_key=API_KEY, max_retries=0)
    counted = claude.messages.count_tokens(
        model="claude-sonnet-4-6",
        system="Be brief.",
        messages=[{"role": "user", "content": "count me"}],
    )
    assert counted.input_tokens == 12  # the fake's count, not an estimate
    recorded = fake_anthropic.last_request
    assert recorded.path == "/v1/messages/count_tokens"
    assert recorded.headers["x-api-key"] == UPSTREAM_ANTHROPIC_KEY
    assert set(recorded.body) == {"model", "system", "messages"}


def test_gemini_counts_tokens_upstream(base_url: str, fake_gemini: FakeServer):
    client = genai.Client(api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url))
    counted = client.models.count_tokens(model="gemini-2.5-flash", contents="count me")
    assert counted.total_tokens == 12
    recorded = fake_gemini.last_request
    assert recorded.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert recorded.headers["x-goog-api-key"] == UPSTREAM_GEMINI_KEY
    inner = recorded.body["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert gemini_texts(inner) == [("user", "count me")]


def test_a_named_compatible_server_reports_its_own_provider_name(
    cluster: Cluster, fake_compat: FakeServer
):
    """Internal callers use the providers service directly; the started event names the
    configured server, not "openai"."""
    fake_compat.script(Text(chunks=["hi"]))
    request = gen.GenerateRequest(
        model=f"{COMPAT_PROVIDER}/llama-3.1-8b",
        messages=[
            content.Message(
                role=content.ROLE_USER, parts=[content.Part(text=content.TextPart(text="x"))]
            )
        ],
    )
    with grpc.insecure_channel(f"127.0.0.1:{cluster.ports.providers}") as channel:
        stub = providers_pb2_grpc.ProviderServiceStub(channel)
        events = list(stub.Generate(request, timeout=30, metadata=cluster.service_metadata()))
    assert events[0].started.provider == COMPAT_PROVIDER
    assert events[-1].HasField("finished")
