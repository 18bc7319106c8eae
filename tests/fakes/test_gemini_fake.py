"""FakeGemini proved with the official google-genai SDK (Developer API and Vertex AI)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors

from tests.fakes import Error, FakeGemini, StreamError, Text, Thinking, ToolCall
from tests.fakes.conftest import GEMINI_KEY, VERTEX_TOKEN, StaticCredentials

MODEL = "gemini-2.5-flash"
WEATHER = ToolCall("get_weather", ['{"city": ', '"Paris"}'])


def test_generate_content_returns_text_and_usage(
    gemini_fake: FakeGemini, gemini_client: genai.Client
) -> None:
    gemini_fake.script(Text(["Hel", "lo"], usage=(8, 3)))

    response = gemini_client.models.generate_content(model=MODEL, contents="hi")

    assert response.text == "Hello"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai.types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 8
    assert response.usage_metadata.candidates_token_count == 3
    assert response.usage_metadata.total_token_count == 11
    assert response.model_version == MODEL
    request = gemini_fake.last_request
    assert request.path.endswith(f"/models/{MODEL}:generateContent")
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert request.body["contents"][0]["parts"] == [{"text": "hi"}]


def test_stream_text_then_function_call_with_thought_signature(
    gemini_fake: FakeGemini, gemini_client: genai.Client
) -> None:
    thinking = Thinking(["Need ", "weather."], signature="c2lnbmF0dXJl")
    gemini_fake.script(Text(["Checking."], tool_calls=[WEATHER], thinking=thinking))

    chunks = list(gemini_client.models.generate_content_stream(model=MODEL, contents="hi"))

    parts = [part for chunk in chunks for part in chunk.candidates[0].content.parts]  # type: ignore[index, union-attr]
    assert [p.text for p in parts if p.thought] == ["Need ", "weather."]
    assert [p.text for p in parts if p.text and not p.thought] == ["Checking."]
    (call,) = [p for p in parts if p.function_call]
    assert call.function_call is not None
    assert (call.function_call.name, call.function_call.args) == ("get_weather", {"city": "Paris"})
    assert call.thought_signature == b"signature"
    assert [c.candidates[0].finish_reason for c in chunks][-1] == genai.types.FinishReason.STOP  # type: ignore[index]
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])  # type: ignore[index]
    assert gemini_fake.last_request.query == {"alt": "sse"}


def test_stream_wire_is_crlf_sse_of_whole_responses(gemini_fake: FakeGemini) -> None:
    gemini_fake.script(Text(["a", "b"]))
    url = f"{gemini_fake.base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}

    raw = httpx.post(url, json=body, headers={"x-goog-api-key": GEMINI_KEY})

    events = raw.content.split(b"\r\n\r\n")
    assert events[-1] == b""
    payloads = [orjson.loads(event.removeprefix(b"data: ")) for event in events[:-1]]
    assert [p["candidates"][0]["content"]["parts"] for p in payloads] == [
        [{"text": "a"}],
        [{"text": "b"}],
    ]
    assert "candidatesTokenCount" in payloads[-1]["usageMetadata"]


def test_stream_without_alt_sse_is_a_json_array(gemini_fake: FakeGemini) -> None:
    gemini_fake.script(Text(["a", "b"]))
    url = f"{gemini_fake.base_url}/v1beta/models/{MODEL}:streamGenerateContent?key={GEMINI_KEY}"

    raw = httpx.post(url, json={"contents": []})

    texts = [r["candidates"][0]["content"]["parts"][0]["text"] for r in raw.json()]
    assert texts == ["a", "b"]


def test_count_tokens(gemini_fake: FakeGemini, gemini_client: genai.Client) -> None:
    gemini_fake.token_count = 29

    counted = gemini_client.models.count_tokens(model=MODEL, contents="hi")

    assert counted.total_tokens == 29
    assert gemini_fake.last_request.path.endswith(f"/models/{MODEL}:countTokens")


@pytest.mark.parametrize(
    ("failure", "exception", "status"),
    [
        pytest.param(
            Error(429, retry_after=30), errors.ClientError, "RESOURCE_EXHAUSTED", id="429"
        ),
        pytest.param(Error(404), errors.ClientError, "NOT_FOUND", id="404"),
        pytest.param(Error(503), errors.ServerError, "UNAVAILABLE", id="503"),
    ],
)
def test_error_maps_to_genai_error_with_code(
    gemini_fake: FakeGemini,
    gemini_client: genai.Client,
    failure: Error,
    exception: type[errors.APIError],
    status: str,
) -> None:
    gemini_fake.script(failure)

    with pytest.raises(exception) as caught:
        gemini_client.models.generate_content(model=MODEL, contents="hi")

    assert (caught.value.code, caught.value.status) == (failure.status, status)


def test_retry_info_carries_retry_after(
    gemini_fake: FakeGemini, gemini_client: genai.Client
) -> None:
    gemini_fake.script(Error(429, retry_after=30))

    with pytest.raises(errors.ClientError) as caught:
        gemini_client.models.generate_content(model=MODEL, contents="hi")

    assert caught.value.details["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
    ]


def test_stream_error_chunk_raises_after_first_text(
    gemini_fake: FakeGemini, gemini_client: genai.Client
) -> None:
    gemini_fake.script(StreamError(after_chunks=1, status=500))
    seen: list[str | None] = []

    with pytest.raises(errors.ServerError) as caught:
        for chunk in gemini_client.models.generate_content_stream(model=MODEL, contents="hi"):
            seen.append(chunk.text)

    assert seen == ["Hel"]
    assert caught.value.code == 500


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        pytest.param({"x-goog-api-key": "wrong"}, 400, "INVALID_ARGUMENT", id="wrong-key"),
        pytest.param({}, 403, "PERMISSION_DENIED", id="no-key"),
        pytest.param({"authorization": "Bearer nope"}, 401, "UNAUTHENTICATED", id="bad-token"),
    ],
)
def test_developer_api_auth_failures(
    gemini_fake: FakeGemini, headers: dict[str, str], status: int, reason: str
) -> None:
    url = f"{gemini_fake.base_url}/v1beta/models/{MODEL}:generateContent"

    raw = httpx.post(url, json={"contents": []}, headers=headers)

    assert (raw.status_code, raw.json()["error"]["status"]) == (status, reason)
    assert gemini_fake.pending == 0


def test_vertex_express_mode_uses_publisher_path_and_adds_create_time(
    gemini_fake: FakeGemini,
) -> None:
    client = genai.Client(
        vertexai=True, api_key=GEMINI_KEY, http_options={"base_url": gemini_fake.base_url}
    )
    gemini_fake.script(Text(["vertex"]))

    response = client.models.generate_content(model=MODEL, contents="hi")

    assert response.text == "vertex"
    assert response.create_time is not None
    assert response.usage_metadata is not None
    assert response.usage_metadata.traffic_type is not None
    assert gemini_fake.last_request.path == (
        f"/v1beta1/publishers/google/models/{MODEL}:generateContent"
    )


def test_vertex_project_location_with_credentials_sends_bearer_token(
    gemini_fake: FakeGemini,
) -> None:
    client = genai.Client(
        vertexai=True,
        project="proj-1",
        location="us-central1",
        credentials=StaticCredentials(VERTEX_TOKEN),
        http_options={"base_url": gemini_fake.base_url},
    )
    gemini_fake.script(Text(["a", "b"], tool_calls=[WEATHER]))

    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hi"))

    assert "".join(c.text or "" for c in chunks if c.text) == "ab"
    assert chunks[-1].function_calls is not None
    assert chunks[-1].function_calls[0].args == {"city": "Paris"}
    request = gemini_fake.last_request
    assert request.path == (
        f"/v1beta1/projects/proj-1/locations/us-central1/publishers/google/models/"
        f"{MODEL}:streamGenerateContent"
    )
    assert request.headers["authorization"] == f"Bearer {VERTEX_TOKEN}"


def test_vertex_without_credentials_is_unauthenticated(gemini_fake: FakeGemini) -> None:
    url = f"{gemini_fake.base_url}/v1/projects/p/locations/l/publishers/google/models/m:countTokens"

    raw = httpx.post(url, json={"contents": []})

    assert (raw.status_code, raw.json()["error"]["status"]) == (401, "UNAUTHENTICATED")


def test_unknown_method_is_not_found(gemini_fake: FakeGemini) -> None:
    url = f"{gemini_fake.base_url}/v1beta/models/{MODEL}:summonDragons"

    raw = httpx.post(url, json={}, headers={"x-goog-api-key": GEMINI_KEY})

    assert (raw.status_code, raw.json()["error"]["status"]) == (404, "NOT_FOUND")
