"""Sessions are never left stuck, and the database's faults are 503s that heal: real processes
on SQLite and on the real PostgreSQL, with a short lease (RHONE_SESSION_LEASE_MS) and a local
model slow enough that a call streams for longer than a lease.

On PostgreSQL the sessions service reaches the database through a TCP proxy the test can cut
(the shared server cannot be stopped), and its connections carry an application name of their
own, so `pg_terminate_backend` hits only them."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anthropic
import grpc
import httpx
import openai
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rhone.launcher import Cluster, Ports
from rhone.ws_client import RhoneWsClient
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.conftest import API_KEY
from tests.store.conftest import PG_URL, postgres_url
from tests.store.test_store_faults import terminate, via_proxy, with_app_name

T = TypeVar("T")

LEASE_MS = 2000
TOKEN_DELAY_MS = 100
# A prompt the local model echoes: its answer streams for about 60 words x 100 ms = 6 s, three
# lease times.
LONG_PROMPT = " ".join(f"word{i}" for i in range(50))
# Exception names and driver words that must never reach a client.
LEAKS = ("asyncpg", "sqlite", "Error:", "Exception", "Traceback", "postgres", "127.0.0.1")


# PostgreSQL's own faults (its connections, its reachability) run on that deployment only;
# SQLite's (a lock held by another process) on that one.
ONLY_POSTGRES = pytest.mark.parametrize("deployment", ["postgres"], indirect=True)
ONLY_SQLITE = pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)


@dataclass
class Deployment:
    cluster: Cluster
    backend: str
    proxy: TcpProxy | None = None
    app_name: str = ""
    sqlite_path: str = ""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    backend = str(request.param)
    root = tmp_path_factory.mktemp(f"faults-{backend}")
    proxy: TcpProxy | None = None
    app_name = ""
    if backend == "postgres":
        target = urlsplit(PG_URL)
        proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
        proxy.up()
        app_name = "rhone_faults_" + secrets.token_hex(4)
        url = with_app_name(via_proxy(asyncio.run(postgres_url()), proxy), app_name)
    else:
        url = f"sqlite:///{root}/rhone.db"
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": url,
            "RHONE_SESSION_LEASE_MS": str(LEASE_MS),
            "RHONE_LOCAL_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS),
            "RHONE_LOG_LEVEL": "INFO",
        },
        log_dir=Path(os.environ.get("RHONE_TEST_LOGS", root / "logs")) / backend,
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield Deployment(cluster, backend, proxy, app_name, url.removeprefix("sqlite:///"))
    finally:
        cluster.stop()
        if proxy is not None:
            proxy.down()


def oai(cluster: Cluster) -> openai.OpenAI:
    return openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)


def chat(cluster: Cluster, text: str, session_id: str = "") -> tuple[str, str]:
    extra = {"rhone": {"session_id": session_id}} if session_id else None
    completion = oai(cluster).chat.completions.create(
        model="local", messages=[{"role": "user", "content": text}], extra_body=extra
    )
    return completion.choices[0].message.content or "", completion.model_extra["rhone"][
        "session_id"
    ]


def until(deadline_s: float, attempt: Callable[[], T], *retry_on: type[Exception]) -> T:
    """`attempt` again on the given errors until it succeeds or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return attempt()
        except retry_on:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def admitted(cluster: Cluster, text: str, session_id: str) -> tuple[float, str]:
    """A streamed call on the session: when its first chunk came (the session's lease was
    taken, the answer under way), and its whole answer."""
    stream = oai(cluster).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": text}],
        extra_body={"rhone": {"session_id": session_id}},
        stream=True,
    )
    chunks = iter(stream)
    first = next(chunks)
    at = time.monotonic()
    parts = [c.choices[0].delta.content or "" for c in (first, *chunks) if c.choices]
    return at, "".join(parts)


def recovery_bound(back_s: float) -> float:
    """When a session whose call died must be usable again: once its lease has run out and
    the restarted translator serves (a process start takes seconds on a loaded machine), plus
    a margin. With the 15-minute lease of old it stayed busy for minutes."""
    return max(LEASE_MS / 1000, back_s) + 3


def health_of(cluster: Cluster) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{cluster.ports.sessions}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    return int(reply.status)


def wait_for_health(cluster: Cluster, status: int, deadline_s: float = 15) -> float:
    """Seconds until the sessions service reports `status`."""
    started = time.monotonic()
    while health_of(cluster) != status:
        assert time.monotonic() - started < deadline_s, f"health never became {status}"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_session_is_free_within_a_lease_of_its_translator_being_killed_mid_stream(
    deployment: Deployment,
):
    cluster = deployment.cluster
    _, sid = chat(cluster, "hello")
    stream = oai(cluster).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": LONG_PROMPT}],
        extra_body={"rhone": {"session_id": sid}},
        stream=True,
    )
    next(iter(stream))  # the call holds the lease and streams
    translator = cluster.processes.pop("translator")
    translator.kill()
    translator.wait()
    killed_at = time.monotonic()
    stream.close()
    cluster.start_service("translator")
    cluster.wait_ready(60)
    back_s = time.monotonic() - killed_at
    admitted_at, answer = until(
        LEASE_MS / 1000 + 10,
        lambda: admitted(cluster, "after the crash", sid),
        openai.ConflictError,
        openai.InternalServerError,
    )
    recovered_s = admitted_at - killed_at
    print(
        f"\n[{deployment.backend}] session usable {recovered_s:.2f}s after SIGKILL "
        f"(translator back after {back_s:.2f}s, lease {LEASE_MS} ms)"
    )
    assert recovered_s < recovery_bound(back_s)
    # The killed call recorded nothing: this is the session's second turn.
    assert 'This is user turn 2; your first message was: "hello".' in answer


def test_a_session_is_free_soon_after_its_translator_is_stopped_mid_stream(
    deployment: Deployment,
):
    """SIGTERM: the translator drains or gives the lease back; either way the session is
    usable within a lease of the process being gone."""
    cluster = deployment.cluster
    _, sid = chat(cluster, "hello")
    stream = oai(cluster).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": LONG_PROMPT}],
        extra_body={"rhone": {"session_id": sid}},
        stream=True,
    )
    next(iter(stream))
    cluster.stop_service("translator")
    stopped_at = time.monotonic()
    stream.close()
    cluster.start_service("translator")
    cluster.wait_ready(60)
    back_s = time.monotonic() - stopped_at
    admitted_at, answer = until(
        LEASE_MS / 1000 + 10,
        lambda: admitted(cluster, "after the stop", sid),
        openai.ConflictError,
        openai.InternalServerError,
    )
    recovered_s = admitted_at - stopped_at
    print(
        f"\n[{deployment.backend}] session usable {recovered_s:.2f}s after SIGTERM "
        f"(translator back after {back_s:.2f}s, lease {LEASE_MS} ms)"
    )
    assert recovered_s < recovery_bound(back_s)
    assert "This is user turn " in answer


def test_a_stream_longer_than_the_lease_keeps_it_and_completes(deployment: Deployment):
    cluster = deployment.cluster
    _, sid = chat(cluster, "start")
    started = time.monotonic()
    stream = oai(cluster).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": LONG_PROMPT}],
        extra_body={"rhone": {"session_id": sid}},
        stream=True,
    )
    text, finish, probed = [], None, 0
    for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        # Past one and then two lease times, the lease is still held: a concurrent call is
        # refused, not let in.
        if probed < 2 and time.monotonic() - started > (probed + 1.5) * LEASE_MS / 1000:
            with pytest.raises(openai.ConflictError) as busy:
                chat(cluster, "me too", sid)
            assert busy.value.code == "session_busy"
            probed += 1
    elapsed = time.monotonic() - started
    print(f"\n[{deployment.backend}] stream of {elapsed:.1f}s kept a {LEASE_MS} ms lease")
    assert probed == 2 and elapsed > 2.5 * LEASE_MS / 1000
    assert finish == "stop" and "word49" in "".join(text)
    answer, _ = chat(cluster, "next", sid)
    assert "This is user turn 3;" in answer


def test_a_call_whose_lease_is_taken_from_it_stops_early_and_records_nothing(
    deployment: Deployment,
):
    """The session deleted under a streaming call: the next renewal finds the lease gone and
    the call ends there with an error, instead of generating to the end for nothing."""
    cluster = deployment.cluster
    _, sid = chat(cluster, "doomed")
    stream = oai(cluster).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": LONG_PROMPT}],
        extra_body={"rhone": {"session_id": sid}},
        stream=True,
    )
    chunks = iter(stream)
    next(chunks)
    started = time.monotonic()
    auth = {"authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=cluster.base_url, headers=auth, timeout=30) as http:
        assert http.delete(f"/v1/sessions/{sid}").status_code == 200
    text = []
    with pytest.raises(openai.APIError) as ended:
        for chunk in chunks:
            text.extend(c.delta.content or "" for c in chunk.choices)
    stopped_s = time.monotonic() - started
    print(f"\n[{deployment.backend}] call stopped {stopped_s:.2f}s after its session was deleted")
    assert "word49" not in "".join(text)
    assert stopped_s < LEASE_MS / 1000 + 2
    _assert_clean(ended.value.message)
    assert "was deleted or taken over" in ended.value.message


@ONLY_POSTGRES
def test_terminated_database_connections_are_invisible_to_calls(deployment: Deployment):
    cluster = deployment.cluster
    _, sid = chat(cluster, "one")
    for turn in (2, 3):
        assert asyncio.run(terminate(deployment.app_name)) >= 1
        answer, _ = chat(cluster, f"turn {turn}", sid)
        assert f"This is user turn {turn};" in answer
    # Terminated while a call streams: its commit runs on a new connection.
    stream = oai(cluster).chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": "streamed across a termination"}],
        extra_body={"rhone": {"session_id": sid}},
        stream=True,
    )
    chunks = iter(stream)
    next(chunks)
    assert asyncio.run(terminate(deployment.app_name)) >= 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    answer, _ = chat(cluster, "five", sid)
    assert "This is user turn 5;" in answer


def _assert_clean(body: Any) -> None:
    text = str(body)
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} reaches the client: {text}"


@ONLY_POSTGRES
def test_an_unreachable_database_is_503_in_each_surface_and_not_serving_then_heals(
    deployment: Deployment,
):
    cluster, proxy = deployment.cluster, deployment.proxy
    assert proxy is not None
    _, sid = chat(cluster, "before the outage")
    stored = oai(cluster).responses.create(model="local", input="kept")
    claude = anthropic.Anthropic(base_url=cluster.base_url, api_key=API_KEY, max_retries=0)
    proxy.down()
    try:
        with pytest.raises(openai.APIStatusError) as lookup_down:
            oai(cluster).responses.retrieve(stored.id)
        assert lookup_down.value.status_code == 503
        _assert_clean(lookup_down.value.response.text)
        with httpx.Client(base_url=cluster.base_url, timeout=30) as http:
            listing = http.get(
                f"/v1/sessions/{sid}", headers={"authorization": f"Bearer {API_KEY}"}
            )
        assert listing.status_code == 503 and listing.json()["error"]["message"]
        _assert_clean(listing.text)

        with pytest.raises(openai.APIStatusError) as oai_down:
            chat(cluster, "during", sid)
        assert oai_down.value.status_code == 503
        body = oai_down.value.body
        assert isinstance(body, dict) and set(body) >= {"message", "type"}
        _assert_clean(oai_down.value.response.text)

        with pytest.raises(anthropic.APIStatusError) as claude_down:
            claude.messages.create(
                model="local",
                max_tokens=50,
                messages=[{"role": "user", "content": "during"}],
                extra_body={"rhone": {"session_id": sid}},
            )
        assert claude_down.value.status_code == 503
        payload = claude_down.value.response.json()
        assert payload["type"] == "error" and payload["error"]["message"]
        _assert_clean(claude_down.value.response.text)

        went_down_s = wait_for_health(cluster, health_pb2.HealthCheckResponse.NOT_SERVING)
        print(f"\n[postgres] health NOT_SERVING {went_down_s:.2f}s into the outage")
    finally:
        proxy.up()
    came_back_s = wait_for_health(cluster, health_pb2.HealthCheckResponse.SERVING)
    print(f"[postgres] health SERVING {came_back_s:.2f}s after the database came back")
    answer, _ = chat(cluster, "after the outage", sid)
    assert 'This is user turn 2; your first message was: "before the outage".' in answer


@ONLY_SQLITE
def test_a_locked_sqlite_database_is_503_then_serves(deployment: Deployment):
    """Another process holding SQLite's write lock past the busy timeout: a clean 503."""
    cluster = deployment.cluster
    _, sid = chat(cluster, "before the lock")
    other = sqlite3.connect(deployment.sqlite_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(openai.APIStatusError) as locked:
            chat(cluster, "while locked", sid)
        assert locked.value.status_code == 503
        _assert_clean(locked.value.response.text)
    finally:
        other.execute("ROLLBACK")
        other.close()
    answer, _ = chat(cluster, "after the lock", sid)
    assert 'This is user turn 2; your first message was: "before the lock".' in answer


async def test_a_socket_still_queues_calls_on_its_session_past_a_lease(deployment: Deployment):
    """rhone.ws.v1 runs a socket's calls on one session one after the other: a first call
    that streams past its lease keeps it, and the calls queued behind it are neither refused
    nor let in early."""
    async with await RhoneWsClient.connect(deployment.cluster.base_url, API_KEY) as ws:
        await ws.bind_session()
        prompts = [" ".join(f"w{i}" for i in range(30)), "second", "third"]
        streams = [
            ws.create(
                "openai.chat", {"model": "local", "messages": [{"role": "user", "content": p}]}
            )
            for p in prompts
        ]
        started = time.monotonic()
        texts = []
        for stream in streams:
            events = [event async for event in stream]
            texts.append("".join(e["choices"][0]["delta"].get("content") or "" for e in events))
    assert time.monotonic() - started > LEASE_MS / 1000
    assert [t.split("This is user turn ")[1][0] for t in texts] == ["1", "2", "3"]


@pytest.fixture
def key_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_TENANT_KEYS": "kept:rk-kept-key,removed:rk-removed-key",
            "RHONE_DATABASE_URL": asyncio.run(postgres_url()),
        },
        log_dir=tmp_path / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


def test_a_key_removed_from_the_environment_is_revoked_at_the_next_start(key_cluster: Cluster):
    def models(key: str) -> list[str]:
        client = openai.OpenAI(base_url=key_cluster.base_url + "/v1", api_key=key, max_retries=0)
        return [model.id for model in client.models.list()]

    assert models("rk-kept-key") and models("rk-removed-key")
    key_cluster.stop()
    key_cluster.env["RHONE_TENANT_KEYS"] = "kept:rk-kept-key"
    key_cluster.start()
    key_cluster.wait_ready(60)
    assert models("rk-kept-key") and models(API_KEY)
    with pytest.raises(openai.AuthenticationError):
        models("rk-removed-key")
