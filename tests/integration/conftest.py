"""Integration tests: the four services as separate processes on free ports, talking gRPC,
driven through the official SDKs. The fake upstreams run in this test process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rhone.launcher import Cluster, Ports
from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "rk-test-default"
OTHER_KEY = "rk-test-other-tenant"
UPSTREAM_OPENAI_KEY = "sk-fake-upstream"


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_fakes(request: pytest.FixtureRequest) -> None:
    if "fake_openai" in request.fixturenames:
        request.getfixturevalue("fake_openai").reset()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("rhone")
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_TENANT_KEYS": f"other:{OTHER_KEY}",
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            "OPENAI_API_KEY": UPSTREAM_OPENAI_KEY,
            "OPENAI_BASE_URL": fake_openai.base_url + "/v1",
            "RHONE_PROVIDER_MAX_BACKOFF_S": "0.2",
            "RHONE_LOG_LEVEL": "INFO",
        },
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
