"""One running fake per provider for the session; each test gets it reset, plus SDK clients."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import google.auth.credentials
import openai
import pytest
from google import genai

from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

OPENAI_KEY = "sk-fake-openai"
ANTHROPIC_KEY = "sk-ant-fake"
GEMINI_KEY = "gm-fake-key"
VERTEX_TOKEN = "ya29.fake-access-token"


class StaticCredentials(google.auth.credentials.Credentials):  # type: ignore[misc]
    """A bearer token that never expires: google-genai sends it without refreshing."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def refresh(self, request: object) -> None:
        """Nothing to refresh: the token is static."""


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=GEMINI_KEY, access_token=VERTEX_TOKEN) as fake:
        yield fake


@pytest.fixture
def openai_fake(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    return openai_server


@pytest.fixture
def anthropic_fake(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    anthropic_server.reset()
    return anthropic_server


@pytest.fixture
def gemini_fake(gemini_server: FakeGemini) -> FakeGemini:
    gemini_server.reset()
    return gemini_server


# SDK clients keep no state between calls and are costly to build (TLS context): one per
# session. Tests needing other options (retries, timeouts) build their own.


@pytest.fixture(scope="session")
def openai_client(openai_server: FakeOpenAI) -> openai.OpenAI:
    base_url = f"{openai_server.base_url}/v1"
    return openai.OpenAI(api_key=OPENAI_KEY, base_url=base_url, max_retries=0)


@pytest.fixture(scope="session")
def anthropic_client(anthropic_server: FakeAnthropic) -> anthropic.Anthropic:
    base_url = anthropic_server.base_url
    return anthropic.Anthropic(api_key=ANTHROPIC_KEY, base_url=base_url, max_retries=0)


@pytest.fixture(scope="session")
def gemini_client(gemini_server: FakeGemini) -> genai.Client:
    return genai.Client(api_key=GEMINI_KEY, http_options={"base_url": gemini_server.base_url})
