"""Gemini Developer API and Vertex AI surfaces through Rhone with the official google-genai SDK
(both modes), on the local model."""

from __future__ import annotations

import google.auth.credentials
import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.integration.conftest import API_KEY, GOOGLE_NAMED_ALIAS

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Current weather",
            parameters_json_schema={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        )
    ]
)


class StaticToken(google.auth.credentials.Credentials):
    """A bearer token as service-account credentials would give (here: a Rhone key)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def refresh(self, request: object) -> None:  # the token never expires in tests
        return None

    @property
    def expired(self) -> bool:
        return False

    @property
    def valid(self) -> bool:
        return True


def developer(base_url: str, key: str = API_KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url))


def vertex_express(base_url: str) -> genai.Client:
    return genai.Client(
        vertexai=True, api_key=API_KEY, http_options=types.HttpOptions(base_url=base_url)
    )


def vertex_project(base_url: str) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="acme-project",
        location="europe-west4",
        credentials=StaticToken(API_KEY),
        http_options=types.HttpOptions(base_url=base_url),
    )


CLIENTS = {
    "developer": developer,
    "vertex_express": vertex_express,
    "vertex_project": vertex_project,
}


@pytest.fixture(params=list(CLIENTS))
def client(request: pytest.FixtureRequest, base_url: str) -> genai.Client:
    return CLIENTS[request.param](base_url)


def session_of(response: types.GenerateContentResponse) -> str:
    # google-genai's types drop unknown fields, so SDK users read the session from the header.
    return response.sdk_http_response.headers["x-rhone-session-id"]


def test_generate_content(client: genai.Client):
    response = client.models.generate_content(
        model="local",
        contents="Hello from Gemini",
        config=types.GenerateContentConfig(system_instruction="Answer plainly."),
    )
    assert response.text == (
        'You said: "Hello from Gemini". This is user turn 1; your first message was: '
        '"Hello from Gemini". System: "Answer plainly.".'
    )
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.candidates_token_count > 0


def test_stream_generate_content(client: genai.Client):
    chunks = list(client.models.generate_content_stream(model="local", contents="stream please"))
    assert len(chunks) > 3
    text = "".join(c.text or "" for c in chunks)
    assert text.startswith('You said: "stream please".')
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_count_tokens(client: genai.Client):
    assert client.models.count_tokens(model="local", contents="a b c").total_tokens == 3


def test_function_calling_round_trip(client: genai.Client):
    asked = client.models.generate_content(
        model="local",
        contents='Use get_weather with {"city": "Rome"}',
        config=types.GenerateContentConfig(tools=[WEATHER]),
    )
    (call,) = asked.function_calls
    assert call.name == "get_weather" and call.args == {"city": "Rome"}
    answered = client.models.generate_content(
        model="local",
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(
                        name="get_weather", response={"temperature": "25C"}
                    )
                ],
            )
        ],
        config=types.GenerateContentConfig(
            tools=[WEATHER],
            http_options=types.HttpOptions(extra_body={"rhone": {"session_id": session_of(asked)}}),
        ),
    )
    assert answered.text == 'Tool get_weather returned: {"temperature":"25C"}'


def test_continuity_with_extra_body(client: genai.Client):
    first = client.models.generate_content(model="local", contents="I am Gemini's first")
    second = client.models.generate_content(
        model="local",
        contents="second",
        config=types.GenerateContentConfig(
            http_options=types.HttpOptions(extra_body={"rhone": {"session_id": session_of(first)}})
        ),
    )
    assert second.text == (
        'You said: "second". This is user turn 2; your first message was: "I am Gemini\'s first".'
    )


def test_errors_in_google_shape(base_url: str):
    client = developer(base_url)
    with pytest.raises(errors.ClientError) as unknown:
        client.models.generate_content(model="nope-1", contents="x")
    assert unknown.value.code == 404 and unknown.value.status == "NOT_FOUND"
    wrong = developer(base_url, key="wrong")
    with pytest.raises(errors.ClientError) as wrong_key:
        wrong.models.generate_content(model="local", contents="x")
    assert wrong_key.value.code == 401


def test_streamed_json_array_without_alt_sse(base_url: str):
    with httpx.stream(
        "POST",
        base_url + "/v1beta/models/local:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "array form"}]}]},
        headers={"x-goog-api-key": API_KEY},
    ) as reply:
        assert reply.status_code == 200
        body = reply.read()
    import orjson

    items = orjson.loads(body)
    assert isinstance(items, list) and len(items) > 3
    text = "".join(p.get("text", "") for i in items for p in i["candidates"][0]["content"]["parts"])
    assert text.startswith('You said: "array form".')


def test_key_in_query_and_snake_case_body(base_url: str):
    reply = httpx.post(
        base_url + f"/v1/models/local:generateContent?key={API_KEY}",
        json={
            "system_instruction": {"parts": [{"text": "snake"}]},
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generation_config": {"max_output_tokens": 100},
        },
    )
    assert reply.status_code == 200
    assert reply.json()["candidates"][0]["content"]["parts"][0]["text"].endswith('System: "snake".')


def test_unknown_method_is_404_in_google_shape(base_url: str):
    reply = httpx.post(
        base_url + "/v1beta/models/local:embedContent",
        json={"content": {"parts": [{"text": "x"}]}},
        headers={"x-goog-api-key": API_KEY},
    )
    assert reply.status_code == 404
    assert reply.json()["error"]["status"] == "NOT_FOUND"


def test_models_list_and_get(client: genai.Client):
    names = [m.name for m in client.models.list()]
    assert any(name.endswith("models/local") for name in names)
    assert client.models.get(model="local").name.endswith("models/local")


ROUTE_FORMS = [
    ("developer", "v1beta"),  # /v1beta/models/{m}:{method}
    ("developer", "v1"),  # /v1/models/{m}:{method}
    ("vertex_express", "v1beta1"),  # /v1beta1/publishers/google/models/{m}:{method}
    ("vertex_express", "v1"),  # /v1/publishers/google/models/{m}:{method}
    ("vertex_project", "v1beta1"),  # /v1beta1/projects/{p}/locations/{l}/publishers/google/...
    ("vertex_project", "v1"),  # /v1/projects/{p}/locations/{l}/publishers/google/...
]


@pytest.mark.parametrize(
    ("mode", "api_version"), ROUTE_FORMS, ids=["-".join(f) for f in ROUTE_FORMS]
)
def test_every_route_form_answers_the_sdk_streamed_and_not(
    base_url: str, mode: str, api_version: str
):
    options = types.HttpOptions(base_url=base_url, api_version=api_version)
    if mode == "developer":
        client = genai.Client(api_key=API_KEY, http_options=options)
    elif mode == "vertex_express":
        client = genai.Client(vertexai=True, api_key=API_KEY, http_options=options)
    else:
        client = genai.Client(
            vertexai=True,
            project="acme-project",
            location="us-central1",
            credentials=StaticToken(API_KEY),
            http_options=options,
        )
    whole = client.models.generate_content(model="local", contents=f"via {api_version}")
    assert whole.text.startswith(f'You said: "via {api_version}".')
    streamed = "".join(
        c.text or "" for c in client.models.generate_content_stream(model="local", contents="s")
    )
    assert streamed.startswith('You said: "s".')
    assert client.models.count_tokens(model="local", contents="one two").total_tokens == 2


def test_an_alias_named_like_a_gemini_model_routes_by_the_alias(client: genai.Client):
    """The routing file's alias `gemini-2.0-flash` (to the local model) wins over the surface's
    own provider on the Gemini surface and both Vertex modes, whole, streamed and counted."""
    response = client.models.generate_content(model=GOOGLE_NAMED_ALIAS, contents="Alias first")
    assert response.text.startswith('You said: "Alias first".')
    chunks = list(client.models.generate_content_stream(model=GOOGLE_NAMED_ALIAS, contents="a b"))
    assert "".join(c.text or "" for c in chunks).startswith('You said: "a b".')
    assert client.models.count_tokens(model=GOOGLE_NAMED_ALIAS, contents="a b c").total_tokens == 3
