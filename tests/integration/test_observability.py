"""Observability end to end: the four services as processes, tracing on (exported to an
in-process OTLP receiver), JSON logs, metrics on every service. Each test reads what an
operator would: the /metrics pages, the spans the receiver got, the log files."""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
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
    whole = client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    session = (whole.model_extra or {})["rhone"]["session_id"]
    # Streamed.
    fake_openai.script(Text(chunks=["a", "b"], usage=(7, 3)))
    list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))  # type: ignore[arg-type]
    # Failed: the upstream refuses the request.
    fake_openai.script(Error(400, message="bad"))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    # Cancelled: a stream the client leaves; and a second call on its session is refused.
    fake_openai.script(Hang())
    hanging = client.chat.completions.create(
        model="gpt-4o",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        extra_body={"rhone": {"session_id": session}},
    )
    next(iter(hanging))
    with pytest.raises(openai.ConflictError):
        client.chat.completions.create(
            model="gpt-4o",
            messages=messages,  # type: ignore[arg-type]
            extra_body={"rhone": {"session_id": session}},
        )
    hanging.close()
    # A call cancelled mid-stream has its labels from the stream's head.
    cancelled = chat_labels("sse", status="200", error_code="cancelled")
    # (The facade learns of the hang-up when the stream next moves; a loaded machine is slow.)
    wait_until(
        lambda: (
            value(scrape(observed.base_url + "/metrics"), "rhone_requests_total", **cancelled) == 1
        ),
        timeout=30,
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
        ("sse", "gpt-4o", "200", "cancelled"): 1,
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
        ("sse", "gpt-4o", "openai"): 2,
        ("http", "gpt-4o", ""): 1,
        ("http", "", ""): 1,
        ("ws", "gpt-4o", "openai"): 1,
    }
    first_tokens = {
        tuple(dict(labels)[k] for k in ("transport", "model")): count
        for (name, labels), count in samples.items()
        if name == "rhone_time_to_first_token_seconds_count"
    }
    assert first_tokens == {("sse", "gpt-4o"): 2, ("ws", "gpt-4o"): 1}
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

    def handled(metrics: dict, method: str) -> dict[str, float]:
        return {
            dict(labels)["grpc_code"]: count
            for (name, labels), count in metrics.items()
            if name == "rhone_grpc_server_handled_total" and dict(labels)["grpc_method"] == method
        }

    # Of the five calls that reached the providers, the three streams (one cancelled) came
    # streamed, and the two whole answers (one the upstream refused) in one unary call each.
    assert handled(providers, "GenerateBatches") == {"OK": 2, "CANCELLED": 1}
    assert handled(providers, "GenerateWhole") == {"OK": 2}
    for method in ("GenerateBatches", "GenerateWhole"):
        generate = {"service": "providers", "grpc_method": method}
        assert value(providers, "rhone_grpc_server_inflight", **generate) == 0

    sessions = scrape(f"http://127.0.0.1:{observed.metrics_ports['sessions']}/metrics")
    assert value(sessions, "rhone_session_lease_conflicts_total") == 1
    # Only the cancelled call and the refused one name a session; the others are first calls,
    # which begin nothing: the three that answered create their sessions as they commit.
    begin = {"service": "sessions", "grpc_method": "BeginTurn"}
    assert value(sessions, "rhone_grpc_server_handled_total", **begin, grpc_code="OK") == 1
    assert value(sessions, "rhone_grpc_server_handled_total", **begin, grpc_code="ABORTED") == 1
    commit = {"service": "sessions", "grpc_method": "CommitTurn"}
    assert value(sessions, "rhone_grpc_server_handled_total", **commit, grpc_code="OK") == 3
    # Statements by kind, and the units a lease and a first call's commit are (one round trip
    # each; every call that committed here was a first call).
    for operation in ("select", "begin_turn", "create_turn"):
        timed = value(
            sessions, "rhone_db_query_duration_seconds_count", backend="sqlite", operation=operation
        )
        assert timed > 0, operation

    translator = scrape(f"http://127.0.0.1:{observed.metrics_ports['translator']}/metrics")
    # The streams (SSE and socket) are Calls; the three HTTP calls that answer whole,
    # refusals included, are CallWholes.
    assert handled(translator, "Call") == {"OK": 2, "CANCELLED": 1}
    assert handled(translator, "CallWhole") == {"OK": 3}
    # The three sessions that committed a turn are in its context cache.
    assert value(translator, "rhone_translator_context_cache_sessions") == 3
    assert 3 * 1000 < value(translator, "rhone_translator_context_cache_bytes") < 3 * 10_000


def test_one_call_is_one_trace_across_the_four_services(
    observed: Cluster, client: openai.OpenAI, fake_openai: FakeOpenAI, receiver: OtlpReceiver
) -> None:
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    fake_openai.script(Text(chunks=["traced"], usage=(11, 4)))
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PROMPT}],
        extra_headers={
            "traceparent": f"00-{trace_id}-{client_span}-01",
            "x-request-id": "trace-me-1",
        },
    )
    spans = receiver.wait_for_names(
        trace_id,
        {
            ("rhone-facade", "POST openai_chat"),
            ("rhone-translator", "rhone.v1.TranslatorService/CallWhole"),
            ("rhone-sessions", "rhone.v1.SessionService/CommitTurn"),
            ("rhone-providers", "rhone.v1.ProviderService/GenerateWhole"),
            ("rhone-providers", "chat gpt-4o"),
            ("rhone-providers", "POST"),
        },
    )
    by_id = {s.span_id: s for s in spans}

    def one(service: str, name: str) -> object:
        found = [s for s in spans if s.service == f"rhone-{service}" and s.name == name]
        assert len(found) == 1, (service, name, [(s.service, s.name) for s in spans])
        return found[0]

    def parent_of(span: object) -> object:
        return by_id[span.parent_span_id]  # type: ignore[attr-defined]

    root = one("facade", "POST openai_chat")
    assert root.parent_span_id == client_span  # type: ignore[attr-defined]
    assert root.kind == SPAN_KIND_SERVER  # type: ignore[attr-defined]
    assert root.attributes["rhone.request_id"] == "trace-me-1"  # type: ignore[attr-defined]
    assert root.attributes["http.response.status_code"] == 200  # type: ignore[attr-defined]
    assert [s for s in spans if s.parent_span_id == client_span] == [root]

    # A whole answer: one unary call on each hop.
    translator = one("translator", "rhone.v1.TranslatorService/CallWhole")
    assert parent_of(translator) is root
    # A first call's session is created with its turn: no BeginTurn (turns.py).
    committed = one("sessions", "rhone.v1.SessionService/CommitTurn")
    assert parent_of(committed) is translator
    assert committed.kind == SPAN_KIND_SERVER  # type: ignore[attr-defined]
    assert not [s for s in spans if s.name.endswith("/BeginTurn")]
    generate = one("providers", "rhone.v1.ProviderService/GenerateWhole")
    assert parent_of(generate) is translator
    chat = one("providers", "chat gpt-4o")
    assert parent_of(chat) is generate
    assert chat.attributes["gen_ai.operation.name"] == "chat"  # type: ignore[attr-defined]
    assert chat.attributes["gen_ai.provider.name"] == "openai"  # type: ignore[attr-defined]
    assert chat.attributes["gen_ai.usage.input_tokens"] == 11  # type: ignore[attr-defined]
    assert chat.attributes["gen_ai.usage.output_tokens"] == 4  # type: ignore[attr-defined]
    assert chat.attributes["gen_ai.response.finish_reasons"] == ["stop"]  # type: ignore[attr-defined]
    upstream = one("providers", "POST")
    assert parent_of(upstream) is chat
    assert upstream.kind == SPAN_KIND_CLIENT  # type: ignore[attr-defined]
    assert upstream.attributes["http.response.status_code"] == 200  # type: ignore[attr-defined]
    assert upstream.attributes["rhone.attempt"] == 1  # type: ignore[attr-defined]
    assert upstream.attributes["gen_ai.request.model"] == "gpt-4o"  # type: ignore[attr-defined]
    # Never the prompt or the completion, unless a setting asks for them.
    assert PROMPT not in repr(spans) and "traced" not in repr(spans)


def _log_lines(cluster: Cluster) -> dict[str, list[dict[str, object]]]:
    assert cluster.log_dir is not None
    lines: dict[str, list[dict[str, object]]] = {}
    for service in ("facade", "translator", "sessions", "providers"):
        text = (Path(cluster.log_dir) / f"{service}.log").read_text()
        lines[service] = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    return lines


def test_json_logs_carry_the_ids_and_never_a_key_or_a_prompt(
    observed: Cluster, client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Error(503, message="busy"), Text(chunks=["fine"], usage=(3, 1)))
    answered = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PROMPT}],
        extra_headers={"x-request-id": "logs-me-1"},
    )
    assert answered.headers["x-request-id"] == "logs-me-1"
    session = answered.headers["x-rhone-session-id"]

    def access_line() -> dict[str, object] | None:
        for line in _log_lines(observed)["facade"]:
            if line.get("logger") == "rhone.access" and line.get("request_id") == "logs-me-1":
                return line
        return None

    wait_until(lambda: access_line() is not None)
    access = access_line()
    assert access is not None
    assert access["service"] == "facade"
    assert access["tenant"] == "default" and access["session_id"] == session
    assert len(str(access["trace_id"])) == 32
    assert {k: access[k] for k in ("surface", "transport", "model", "provider", "status")} == {
        "surface": "openai_chat",
        "transport": "http",
        "model": "gpt-4o",
        "provider": "openai",
        "status": 200,
    }
    assert access["tokens_in"] == 3 and access["tokens_out"] == 1
    assert float(access["latency_ms"]) > 0  # type: ignore[arg-type]
    # The providers service logged the retry with the same ids.
    retry = [
        line for line in _log_lines(observed)["providers"] if line.get("request_id") == "logs-me-1"
    ]
    assert retry and all(line["trace_id"] == access["trace_id"] for line in retry)
    assert all(line["tenant"] == "default" and line["service"] == "providers" for line in retry)

    for service, lines in _log_lines(observed).items():
        text = orjson.dumps(lines).decode()
        for secret in (API_KEY, UPSTREAM_OPENAI_KEY, PROMPT):
            assert secret not in text, (service, secret)


def test_every_response_has_a_request_id_and_anthropic_errors_carry_it(
    observed: Cluster,
) -> None:
    import httpx

    with httpx.Client(base_url=observed.base_url) as http:
        listed = http.get("/v1/models", headers={"authorization": f"Bearer {API_KEY}"})
        assert listed.headers["x-request-id"].startswith("req_")
        kept = http.get("/healthz", headers={"x-request-id": "mine-42"})
        assert kept.headers["x-request-id"] == "mine-42"
        # An id that is not safe to echo and log is replaced.
        replaced = http.get("/healthz", headers={"x-request-id": "x" * 500})
        assert replaced.headers["x-request-id"].startswith("req_")
        refused = http.post(
            "/v1/messages",
            json={"model": "claude-x", "max_tokens": 5, "messages": []},
            headers={
                "x-api-key": "wrong-key",
                "anthropic-version": "2023-06-01",
                "x-request-id": "anthropic-7",
            },
        )
        assert refused.status_code == 401
        assert refused.headers["request-id"] == refused.headers["x-request-id"] == "anthropic-7"
        assert refused.json()["request_id"] == "anthropic-7"
        assert refused.json()["type"] == "error"
