"""Integration tests: the four services as separate processes on free ports, talking gRPC,
driven through the official SDKs. The fake upstreams run in this test process.

Every provider is enabled the way a user enables it, by its env vars: OpenAI, Anthropic,
Gemini, Vertex (project mode with a static token; express mode through a routing-config
deployment with its own key) and a named OpenAI-compatible server from the routing config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rhone.launcher import Cluster, Ports
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "rk-test-default"
OTHER_KEY = "rk-test-other-tenant"
UPSTREAM_OPENAI_KEY = "sk-fake-upstream"
UPSTREAM_ANTHROPIC_KEY = "sk-ant-fake-upstream"
UPSTREAM_GEMINI_KEY = "AIza-fake-gemini-upstream"
UPSTREAM_VERTEX_TOKEN = "ya29.fake-vertex-access-token"
UPSTREAM_VERTEX_KEY = "AQ.fake-vertex-express-key"
UPSTREAM_COMPAT_KEY = "sk-fake-compat-server"
VERTEX_PROJECT = "rhone-test-project"
VERTEX_LOCATION = "europe-west4"
# The named OpenAI-compatible server of the routing config, and its key's env var.
COMPAT_PROVIDER = "compat"
COMPAT_KEY_ENV = "RHONE_TEST_COMPAT_KEY"
VERTEX_EXPRESS_KEY_ENV = "RHONE_TEST_VERTEX_EXPRESS_KEY"
UNSET_KEY_ENV = "RHONE_TEST_NEVER_SET_KEY"
GOOGLE_NAMED_ALIAS = "gemini-2.0-flash"

_FAKES = ("fake_openai", "fake_anthropic", "fake_gemini", "fake_vertex", "fake_compat")


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=UPSTREAM_ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=UPSTREAM_GEMINI_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_vertex() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=UPSTREAM_VERTEX_KEY, access_token=UPSTREAM_VERTEX_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_compat() -> Iterator[FakeOpenAI]:
    """A vLLM/Ollama-like server: the OpenAI wire at a base URL of its own, with its own key."""
    with FakeOpenAI(api_key=UPSTREAM_COMPAT_KEY, models=("llama-3.1-8b",)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    for name in _FAKES:
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


def routing_config(fake_openai: FakeOpenAI, fake_compat: FakeOpenAI) -> dict[str, object]:
    """The routing config the cluster runs with (written as YAML into the run's tmp dir)."""
    return {
        "providers": {
            COMPAT_PROVIDER: {
                "base_url": fake_compat.base_url + "/v1",
                "api_key_env": COMPAT_KEY_ENV,
            }
        },
        "models": {
            # Cross-provider failover: Anthropic first, then the compatible server.
            "failover-alias": ["anthropic/claude-failover", f"{COMPAT_PROVIDER}/llama-failover"],
            "vertex-express": [
                {
                    "provider": "vertex",
                    "model": "gemini-2.5-flash",
                    "api_key_env": VERTEX_EXPRESS_KEY_ENV,
                }
            ],
            "responses-model": [{"provider": "openai", "model": "gpt-4.1", "api": "responses"}],
            # Named like a Google model: aliases come first on the Gemini and Vertex surfaces too.
            # The bare `local` target is the local model, as a client names it.
            GOOGLE_NAMED_ALIAS: ["local"],
            "needs-a-key": [
                {"provider": "anthropic", "model": "claude-x", "api_key_env": UNSET_KEY_ENV}
            ],
        },
    }


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    fake_vertex: FakeGemini,
    fake_compat: FakeOpenAI,
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("rhone")
    routing = root / "routing.yaml"
    routing.write_text(yaml.safe_dump(routing_config(fake_openai, fake_compat)))
    env = {
        "RHONE_API_KEY": API_KEY,
        "RHONE_TENANT_KEYS": f"other:{OTHER_KEY}",
        "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
        "OPENAI_API_KEY": UPSTREAM_OPENAI_KEY,
        "OPENAI_BASE_URL": fake_openai.base_url + "/v1",
        "ANTHROPIC_API_KEY": UPSTREAM_ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
        "GEMINI_API_KEY": UPSTREAM_GEMINI_KEY,
        "GEMINI_BASE_URL": fake_gemini.base_url,
        "VERTEX_PROJECT": VERTEX_PROJECT,
        "VERTEX_LOCATION": VERTEX_LOCATION,
        "VERTEX_BASE_URL": fake_vertex.base_url,
        "VERTEX_ACCESS_TOKEN": UPSTREAM_VERTEX_TOKEN,
        VERTEX_EXPRESS_KEY_ENV: UPSTREAM_VERTEX_KEY,
        COMPAT_KEY_ENV: UPSTREAM_COMPAT_KEY,
        "RHONE_ROUTING_CONFIG": str(routing),
        "RHONE_PROVIDER_MAX_BACKOFF_S": "0.2",
        "RHONE_LOG_LEVEL": "INFO",
    }
    cluster = Cluster(
        Ports.free(),
        env=env,
        log_dir=Path(os.environ.get("RHONE_TEST_LOGS", root / "logs")),
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def base_url(cluster: Cluster) -> str:
    return cluster.base_url
