"""Observability end to end: the four services as processes, tracing on (exported to an
in-process OTLP receiver), JSON logs, metrics on every service. Each test reads what an
operator would: the /metrics pages, the spans the receiver got, the log files."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rhone.launcher import Cluster, Ports
from rhone.ws_client import RhoneWsClient
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Error, Hang, Text
from tests.integration.conftest import UPSTREAM_OPENAI_KEY
from tests.integration.otlp_receiver import OtlpReceiver

API_KEY = "rk-observability-test-key"
PROMPT = "the secret prompt text xyzzy"
SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 2, 3


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, receiver: OtlpReceiver
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("observed")
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            "OPENAI_API_KEY": UPSTREAM_OPENAI_KEY,
            "OPENAI_BASE_URL": fake_openai.base_url + "/v1",
            "RHONE_PROVIDER_MAX_BACKOFF_S": "0.05",
            "RHONE_LOG_FORMAT": "json",
            "RHONE_METRICS_TENANT_LABEL": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        },
        log_dir=root / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def client(observed: Cluster) -> openai.OpenAI:
    return openai.OpenAI(base_url=observed.base_url + "/v1", api_key=API_KEY, max_retries=0)


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page, keyed by name and labels."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def chat_labels(transport: str, **extra: str) -> dict[str, str]:
    return {
        "surface": "openai_chat",
        "transport": transport,
        "model": "gpt-4o",
        "provider": "openai",
        **extra,
    }


def test_metrics_count_each_kind_of_call_exactly(
    observed: Cluster, client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    messages = [{"role": "user", "content": "hi"}]
    # Whole, after one retried 429.
    fake_openai.script(Error(429, retry_after=0.01), Text(chunks=["Hel", "lo"], usage=(10, 2)))
    client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    # Streamed.
    fake_openai.script(Text(chunks=["a", "b"], usage=(7, 3)))
    list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))  # type: ignore[arg-type]
    # Failed: the upstream refuses the request.
    fake_openai.script(Error(400, message="bad"))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    # Cancelled: a stream the client leaves; and a second call on its session is refused.
    fake_openai.script(Hang())
    hanging = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)  # type: ignore[arg-type]
    first = next(iter(hanging))
    session = first.model_extra["rhone"]["session_id"] if first.model_extra.get("rhone") else None
    if session is None:
        session = hanging.response.headers["x-rhone-session-id"]
    with pytest.raises(openai.ConflictError):
        client.chat.completions.create(
            model="gpt-4o",
            messages=messages,  # type: ignore[arg-type]
            extra_body={"rhone": {"session_id": session}},
        )
    hanging.close()
    # A call cancelled mid-stream never hears the translator's trailer: no model, no provider.
    cancelled = {
        **chat_labels("sse", status="200", error_code="cancelled"),
        "model": "",
        "provider": "",
    }
    wait_until(
        lambda: (
            value(scrape(observed.base_url + "/metrics"), "rhone_requests_total", **cancelled) == 1
        )
    )

    # WebSocket: one call on rhone.ws.v1.
    async def over_websocket() -> None:
        fake_openai.script(Text(chunks=["w"], usage=(5, 1)))
        async with await RhoneWsClient.connect(observed.base_url, API_KEY) as ws:
            events = [
                e async for e in ws.create("openai.chat", {"model": "gpt-4o", "messages": messages})
            ]
            assert events

    asyncio.run(over_websocket())
    facade = observed.base_url + "/metrics"
    wait_until(lambda: value(scrape(facade), "rhone_ws_calls_per_socket_count", path="/v1/ws") == 1)

    samples = scrape(facade)
    requests = {
        tuple(dict(labels)[k] for k in ("transport", "model", "status", "error_code")): count
        for (name, labels), count in samples.items()
        if name == "rhone_requests_total"
    }
    assert requests == {
        ("http", "gpt-4o", "200", ""): 1,
        ("sse", "gpt-4o", "200", ""): 1,
        ("http", "gpt-4o", "400", "invalid_request"): 1,
        ("sse", "", "200", "cancelled"): 1,
        ("http", "", "409", "session_busy"): 1,
        ("ws", "gpt-4o", "200", ""): 1,
    }
    # Provider labels come from the answer: a call refused before any answer has none.
    durations = {
        tuple(dict(labels)[k] for k in ("transport", "model", "provider")): count
        for (name, labels), count in samples.items()
        if name == "rhone_request_duration_seconds_count"
    }
    assert durations == {
        ("http", "gpt-4o", "openai"): 1,
        ("sse", "gpt-4o", "openai"): 1,
        ("http", "gpt-4o", ""): 1,
        ("sse", "", ""): 1,
        ("http", "", ""): 1,
        ("ws", "gpt-4o", "openai"): 1,
    }
    first_tokens = {
        tuple(dict(labels)[k] for k in ("transport", "model")): count
        for (name, labels), count in samples.items()
        if name == "rhone_time_to_first_token_seconds_count"
    }
    assert first_tokens == {("sse", "gpt-4o"): 1, ("sse", ""): 1, ("ws", "gpt-4o"): 1}
    tokens = {
        dict(labels)["type"]: count
        for (name, labels), count in samples.items()
        if name == "rhone_tokens_total"
    }
    assert tokens == {"input": 10 + 7 + 5, "output": 2 + 3 + 1}
    assert value(samples, "rhone_tenant_tokens_total", tenant="default", type="input") == 22
    assert value(samples, "rhone_ws_sockets_open", path="/v1/ws") == 0
    assert value(samples, "rhone_inflight_requests", transport="http") == 0

    providers = scrape(f"http://127.0.0.1:{observed.metrics_ports['providers']}/metrics")
    assert value(providers, "rhone_upstream_attempts_total", provider="openai") == 6
    assert value(providers, "rhone_upstream_retries_total", provider="openai") == 1
    assert value(providers, "rhone_upstream_responses_total", provider="openai", status="429") == 1
    assert value(providers, "rhone_upstream_responses_total", provider="openai", status="400") == 1
    assert value(providers, "rhone_upstream_responses_total", provider="openai", status="200") == 4
    generate = {"service": "providers", "grpc_method": "Generate"}
    # The translator stops reading at a failure event, so whether the refused call's Generate
    # ends OK or CANCELLED is a race; the five calls that reached it are not.
    handled = {
        dict(labels)["grpc_code"]: count
        for (name, labels), count in providers.items()
        if name == "rhone_grpc_server_handled_total" and dict(labels)["grpc_method"] == "Generate"
    }
    assert sum(handled.values()) == 5 and handled["OK"] >= 3 and handled["CANCELLED"] >= 1
    assert value(providers, "rhone_grpc_server_inflight", **generate) == 0

    sessions = scrape(f"http://127.0.0.1:{observed.metrics_ports['sessions']}/metrics")
    assert value(sessions, "rhone_session_lease_conflicts_total") == 1
    begin = {"service": "sessions", "grpc_method": "BeginTurn"}
    assert value(sessions, "rhone_grpc_server_handled_total", **begin, grpc_code="OK") == 5
    assert value(sessions, "rhone_grpc_server_handled_total", **begin, grpc_code="ABORTED") == 1
    selects = value(
        sessions, "rhone_db_query_duration_seconds_count", backend="sqlite", operation="select"
    )
    assert selects > 0

    translator = scrape(f"http://127.0.0.1:{observed.metrics_ports['translator']}/metrics")
    call = {"service": "translator", "grpc_method": "Call"}
    assert value(translator, "rhone_grpc_server_handled_total", **call, grpc_code="OK") == 5
    assert value(translator, "rhone_grpc_server_handled_total", **call, grpc_code="CANCELLED") == 1
