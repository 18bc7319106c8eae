"""The production overlay, run on one machine: 2 facades, 2 translators, 2 sessions and 3
providers, each replica a process on its own loopback address, started with the command and
env its Deployment gives it (tests/cluster/local_k8s.py), on the real PostgreSQL. Under a
steady load of streamed and whole calls across many sessions (tests/cluster/load.py):

1. kill -9 a provider replica: every call that had not started streaming succeeds (the channel
   retries it on another replica; a whole answer starts over); a stream cut midway ends with
   the surface's own error; no half turn is stored;
2. start a fourth provider replica (its address is in the providers' target from the start, as
   a headless Service's name resolves to a new pod): it serves calls within a bounded time;
3. SIGTERM a translator: its streams in flight complete, new calls go to the other one, it
   exits within its grace;
4. SIGTERM a sessions replica: sessions go on, on the other one;
5. (calls that name no session) kill -9 a translator: every call that had not started
   streaming succeeds, on the other translator; only streams cut midway fail.

At the end, every session's turn count in PostgreSQL equals its successful calls. The figures
(calls, failures, recovery times) are printed.

Sessions leases: phases 1-4 stop replicas by SIGTERM (they drain) or kill a provider, which
holds no lease; phase 5 kills a translator, under calls that hold no lease of a session they
would use again. So no call waits on the lease of a dead translator."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from deploy.kustomize import render
from tests.cluster.load import Load, Outcome
from tests.cluster.local_k8s import LocalCluster, Replica
from tests.integration.conftest import API_KEY
from tests.store.conftest import postgres_url

OVERLAY = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "overlays" / "production"
GENERATE = "/rhone.v1.ProviderService/Generate"  # and GenerateBatches, GenerateWhole (served)
CALL = "/rhone.v1.TranslatorService/Call"
# The streaming methods: a replica with one of these open has a stream in flight (CallWhole
# and GenerateWhole, whole answers, are retried on another replica when one is lost).
GENERATE_STREAM = "/rhone.v1.ProviderService/GenerateBatches"
# A call open this long on a replica is a stream (whole answers are short, tests/cluster/load.py).
STREAM_OPEN_S = 0.6
# How long a new provider replica may take to get its first call.
NEW_REPLICA_BOUND_S = 20.0

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
async def database_url() -> str:
    return await postgres_url()


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[LocalCluster]:
    # What the production overlay expects to exist in its namespace (README, "Deploy on
    # Kubernetes"), and what this machine changes: a slow local model, so that calls are in
    # flight when replicas go; DEBUG logs, where each gRPC replica names the calls it serves.
    debug = {"RHONE_LOG_LEVEL": "DEBUG"}
    cluster = LocalCluster(
        render(OVERLAY),
        tmp_path,
        secrets={
            "rhone-database": {"url": database_url},
            "rhone-database-migrate": {"url": database_url},
            "rhone-api-keys": {"api-key": API_KEY},
            "rhone-provider-keys": {},
            "rhone-service-identity": {"service-token": "multi-replica-service-token"},
            "rhone-server-secrets": {
                "compaction-secret": "multi-replica-compaction-secret",
                "key-hmac-secret": "multi-replica-key-hmac-secret",
            },
        },
        overrides={
            "providers": {**debug, "RHONE_LOCAL_TOKEN_DELAY_MS": "40"},
            "translator": debug,
            "sessions": debug,
        },
        spares={"providers": 1},
    )
    cluster.run_jobs()
    cluster.start_all()
    try:
        cluster.wait_ready(cluster.running())
        yield cluster
    finally:
        cluster.stop()


def served(replica: Replica, method: str) -> int:
    assert replica.log is not None
    return replica.log.read_text(errors="replace").count(method)


async def until(condition, within_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Waits for `condition()` (a plain function); returns when it held."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic()


def open_calls(replica: Replica, method: str) -> dict[str, float]:
    """The calls of exactly `method` the replica has begun and not ended
    (rhone/runtime/call_limit.py), serial -> when it began (the log's clock; a restarted
    replica counts from 1 again, so the log is read in order)."""
    assert replica.log is not None
    open_now: dict[str, float] = {}
    for line in replica.log.read_text(errors="replace").splitlines():
        if "call #" not in line:
            continue
        serial = line.split("call #")[1].split()[0]
        if f" {method} (" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            open_now[serial] = stamp.timestamp()
        elif line.endswith(" ended"):
            open_now.pop(serial, None)
    return open_now


async def replica_streaming(replicas: list[Replica], method: str, within_s: float = 60) -> Replica:
    """A replica with a call begun STREAM_OPEN_S ago and still open: a stream (whole answers
    are short), whose first chunks have reached the client and whose end is far."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for replica in replicas:
            ages = [time.time() - began for began in open_calls(replica, method).values()]
            if any(STREAM_OPEN_S <= age <= 2 * STREAM_OPEN_S for age in ages):
                return replica
        await asyncio.sleep(0.05)
    raise AssertionError("no replica had a stream in flight")


def describe(outcomes: list[Outcome]) -> str:
    return ", ".join(
        f"{'stream' if o.stream else 'whole'}{' (streaming)' if o.streaming else ''}: {o.error}"
        for o in outcomes
    )


async def test_the_production_overlay_survives_losing_and_gaining_replicas_under_load(
    cluster: LocalCluster, database_url: str, capsys: pytest.CaptureFixture[str]
):
    providers = cluster.deployments["providers"].replicas
    translators = cluster.deployments["translator"].replicas
    sessions = cluster.deployments["sessions"].replicas
    facades = [
        f"http://{r.address}:{cluster.deployments['facade'].port}"
        for r in cluster.deployments["facade"].replicas
    ]
    assert len(facades) == 2 and len(translators) == 2 and len(sessions) == 2
    assert len([p for p in providers if p.running]) == 3

    load = Load(facades, API_KEY, workers=10, sessions_per_worker=3)
    began = time.monotonic()
    await load.start()
    figures: list[str] = []
    try:
        await load.wait_ok(30, since=began)

        # 1. kill -9 one provider replica, one with a stream in flight.
        victim = await replica_streaming(providers[:3], GENERATE_STREAM)
        killed_at = time.monotonic()
        cluster.signal(victim, signal.SIGKILL)
        await load.wait_ok(30, since=killed_at)
        failed = load.failures_since(killed_at)
        assert all(o.stream and o.streaming for o in failed), describe(failed)
        assert all(o.error == "APIError" for o in failed), describe(failed)
        assert failed, "no stream was cut: the kill missed every stream in flight"
        recovery = max((o.ended_at for o in failed), default=killed_at) - killed_at
        spanning = [o for o in load.outcomes if o.started_at < killed_at < o.ended_at]
        figures.append(
            f"kill -9 provider {victim.index}: {len(spanning)} calls in flight "
            f"({sum(o.stream for o in spanning)} streamed); {len(failed)} streams cut midway "
            f"(surface error), every other call answered; "
            f"last failure {recovery:.2f}s after the kill"
        )

        # 2. a fourth provider replica.
        fourth = cluster.start(providers[3].deployment, 3)
        started_at = time.monotonic()
        await asyncio.to_thread(cluster.wait_ready, [fourth], 60)
        ready_at = time.monotonic()
        first_call = await until(
            lambda: served(fourth, GENERATE) > 0, NEW_REPLICA_BOUND_S, "a call on provider 3"
        )
        assert not load.failures_since(ready_at), describe(load.failures_since(ready_at))
        figures.append(
            f"provider 3 started: ready after {ready_at - started_at:.2f}s, "
            f"first call {first_call - ready_at:.2f}s after ready"
        )

        # 3. SIGTERM a translator.
        leaving, staying = translators
        await until(lambda: served(leaving, CALL) > 0, 30, "calls on translator 0")
        staying_before = served(staying, CALL)
        sigterm_at = time.monotonic()
        cluster.signal(leaving, signal.SIGTERM)
        assert leaving.process is not None
        exit_code = await asyncio.to_thread(leaving.process.wait, 40)
        exited_at = time.monotonic()
        assert exit_code == 0
        await load.wait_ok(30, since=exited_at)
        in_flight = [o for o in load.outcomes if o.started_at < sigterm_at < o.ended_at]
        failed = load.failures_since(sigterm_at)
        assert not failed, describe(failed)
        assert in_flight and all(o.ok for o in in_flight)
        assert served(staying, CALL) > staying_before
        figures.append(
            f"SIGTERM translator 0: {len(in_flight)} calls in flight all completed, "
            f"drained and exited in {exited_at - sigterm_at:.2f}s, 0 failures; "
            f"translator 1 took {served(staying, CALL) - staying_before} calls"
        )

        # 4. stop a sessions replica.
        gone = sessions[0]
        stopped_at = time.monotonic()
        cluster.signal(gone, signal.SIGTERM)
        assert gone.process is not None
        assert await asyncio.to_thread(gone.process.wait, 40) == 0
        gone_at = time.monotonic()
        await load.wait_ok(30, since=gone_at)
        failed = load.failures_since(stopped_at)
        assert not failed, describe(failed)
        figures.append(
            f"SIGTERM sessions 0: exited in {gone_at - stopped_at:.2f}s; "
            f"{len(load.ended_between(stopped_at, time.monotonic()))} calls since, 0 failures"
        )
    finally:
        await load.stop()

    # 5. kill -9 a translator. The calls so far have ended, and these name no session: a
    # killed translator's leases stay taken until they expire, and calls on its sessions
    # would wait for that (another branch shortens leases held by a dead call).
    before_restart = served(translators[0], CALL)
    restarted = cluster.start("translator", 0)
    await asyncio.to_thread(cluster.wait_ready, [restarted], 60)
    free = Load(facades, API_KEY, workers=8, sessionless=True)
    phase_began = time.monotonic()
    await free.start()
    try:
        await free.wait_ok(20, since=phase_began)
        await until(
            lambda: served(restarted, CALL) > before_restart, 20, "a call on the restarted one"
        )
        victim = await replica_streaming([t for t in translators if t.running], CALL)
        killed_at = time.monotonic()
        cluster.signal(victim, signal.SIGKILL)
        await free.wait_ok(30, since=killed_at)
        failed = free.failures_since(killed_at)
        assert all(o.stream and o.streaming for o in failed), describe(failed)
        assert failed, "no stream was cut: the kill missed every stream in flight"
        spanning = [o for o in free.outcomes if o.started_at < killed_at < o.ended_at]
        clean = sum(o.error == "APIError" for o in failed)
        figures.append(
            f"kill -9 translator {victim.index} (restarted translator 0 took calls again): "
            f"{len(spanning)} calls in flight ({sum(o.stream for o in spanning)} streamed); "
            f"{len(failed)} streams cut midway ({clean} with the surface's error, "
            f"{len(failed) - clean} ended short without one), every other call answered"
        )
    finally:
        await free.stop()

    assert not load.wrong_turns, load.wrong_turns[:5]
    assert not free.wrong_turns, free.wrong_turns[:5]
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT session_id, count(*) AS n FROM turns GROUP BY 1")
    finally:
        await connection.close()
    stored = {row["session_id"]: row["n"] for row in rows}
    sessioned = {s: n for s, n in stored.items() if s in load.ok_per_session}
    assert sessioned == {s: n for s, n in load.ok_per_session.items() if n}
    # Each answered sessionless call began a session with one turn; a cut one stored none.
    assert (
        sorted(n for s, n in stored.items() if s not in sessioned) == [1] * free.ok_per_session[""]
    )

    outcomes = load.outcomes + free.outcomes
    calls = len(outcomes)
    ok = sum(o.ok for o in outcomes)
    per_provider = [served(p, GENERATE) for p in providers if p.log is not None]
    with capsys.disabled():
        print(
            f"\nmulti-replica: {calls} calls ({sum(o.stream for o in outcomes)} streamed) "
            f"over {len(stored)} sessions in {time.monotonic() - began:.1f}s; "
            f"{ok} answered, {calls - ok} failed; turns in PostgreSQL: {sum(stored.values())}"
        )
        print(f"  Generate calls per provider replica: {per_provider}")
        for line in figures:
            print("  " + line)
