"""Each service bounds the calls it runs at once, and one call more is a fast 503 in the
surface's own shape (RESOURCE_EXHAUSTED between services), never a queue.

The local model streams slowly here, so the first call holds its slot while the next comes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from rhone.launcher import Cluster, Ports
from tests.integration.conftest import API_KEY


def start(tmp_path: Path, limits: dict[str, str]) -> Cluster:
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{tmp_path}/rhone.db",
            "RHONE_LOCAL_TOKEN_DELAY_MS": "100",
            **limits,
        },
        log_dir=tmp_path / "logs",
    )
    cluster.start()
    cluster.wait_ready(60)
    return cluster


@pytest.fixture
def facade_limited(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start(tmp_path, {"RHONE_FACADE_MAX_CONCURRENT_CALLS": "1"})
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def providers_limited(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start(tmp_path, {"RHONE_PROVIDERS_MAX_CONCURRENT_CALLS": "1"})
    try:
        yield cluster
    finally:
        cluster.stop()


def hold_a_stream(cluster: Cluster) -> openai.Stream:  # type: ignore[type-arg]
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "a long answer"}], stream=True
    )
    next(iter(stream))
    return stream


def slot_back(cluster: Cluster, within_s: float = 5) -> None:
    """Until the facade counts no call in flight: a slot is given back when the translator's
    call has ended, a moment after the client has read the stream's last byte."""
    deadline = time.monotonic() + within_s
    while httpx.get(cluster.base_url + "/readyz").json()["calls_in_flight"]:
        assert time.monotonic() < deadline, "the slot never came back"
        time.sleep(0.05)


def test_one_call_over_the_facade_limit_is_a_fast_503_in_the_surface_shape(
    facade_limited: Cluster,
):
    stream = hold_a_stream(facade_limited)
    client = openai.OpenAI(base_url=facade_limited.base_url + "/v1", api_key=API_KEY, max_retries=0)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="local", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 2
    assert refused.value.status_code == 503
    assert refused.value.body["code"] == "overloaded"  # type: ignore[index]
    # The call in flight is not disturbed, and its slot comes back when it ends.
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text.startswith('You said: "a long answer".'), text
    slot_back(facade_limited)
    answer = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "now"}]
    )
    assert answer.choices[0].message.content


def test_one_call_over_a_backend_limit_is_a_fast_503_in_the_surface_shape(
    providers_limited: Cluster,
):
    stream = hold_a_stream(providers_limited)
    client = anthropic.Anthropic(
        base_url=providers_limited.base_url, api_key=API_KEY, max_retries=0
    )
    started = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(
            model="local", max_tokens=50, messages=[{"role": "user", "content": "x"}]
        )
    assert time.monotonic() - started < 2
    assert refused.value.status_code == 503
    assert refused.value.body["type"] == "error"  # type: ignore[index]
    for _ in stream:
        pass
    answer = client.messages.create(
        model="local", max_tokens=50, messages=[{"role": "user", "content": "now"}]
    )
    assert answer.content
