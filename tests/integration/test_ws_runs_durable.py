"""Runs survive their socket: two facade processes on one translator and one sessions service
(PostgreSQL), a connection killed mid-stream, and a new one attaching on the other facade;
a paused run past its timeout expires. The local model streams slowly here
(RHONE_LOCAL_TOKEN_DELAY_MS), so that a step is really in flight when its socket dies."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from rhone.launcher import Cluster, Ports, free_port
from rhone.sse import SseDecoder
from rhone.ws_client import RhoneWsClient, RhoneWsClosed, RhoneWsError
from tests.integration.conftest import API_KEY
from tests.integration.test_ws_runs import ASK, body_for, events_of, text_of, until
from tests.store.conftest import postgres_url

# Facade B lets a paused run wait one second only.
SHORT_WAIT_S = 1.0
# Every facade beats for its running steps this often: a step silent for three beats is dead.
HEARTBEAT_S = 0.3


@pytest.fixture(scope="module")
async def database_url() -> str:
    return await postgres_url()


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Cluster]]:
    """Facade A with the other services; facade B on them; facade C, which tests stop."""
    root = tmp_path_factory.mktemp("runs")
    logs = Path(os.environ.get("RHONE_TEST_LOGS", root / "logs"))
    env = {
        "RHONE_API_KEY": API_KEY,
        "RHONE_DATABASE_URL": database_url,
        "RHONE_LOCAL_TOKEN_DELAY_MS": "15",
        "RHONE_LOG_LEVEL": "INFO",
        "RHONE_RUN_HEARTBEAT_S": str(HEARTBEAT_S),
    }
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    a = Cluster(ports, env=env, log_dir=logs / "facade-a")
    b = Cluster(
        Ports(free_port(), ports.translator, ports.sessions, ports.providers),
        env={**env, "RHONE_RUN_TOOL_TIMEOUT_S": str(SHORT_WAIT_S)},
        log_dir=logs / "facade-b",
        only=("facade",),
    )
    c = Cluster(
        Ports(free_port(), ports.translator, ports.sessions, ports.providers),
        env=env,
        log_dir=logs / "facade-c",
        only=("facade",),
    )
    try:
        a.start()
        a.wait_ready(60)
        for facade in (b, c):
            facade.start()
        for facade in (b, c):
            facade.wait_ready(60)
        yield [a, b, c]
    finally:
        c.stop()
        b.stop()
        a.stop()


@pytest.fixture(scope="module")
def facades(stack: list[Cluster]) -> tuple[str, str]:
    return stack[0].base_url, stack[1].base_url


async def log_of(base_url: str, run_id: str) -> list[dict[str, Any]]:
    """The run's whole event log, as GET /v1/runs/{id}/events serves it."""
    decoder = SseDecoder()
    async with httpx.AsyncClient(timeout=60) as http:
        reply = await http.get(
            f"{base_url}/v1/runs/{run_id}/events",
            headers={"authorization": f"Bearer {API_KEY}"},
        )
    return [orjson.loads(e.data) for e in [*decoder.feed(reply.text), *decoder.close()]]


async def test_a_killed_connection_resumes_on_another_facade(facades: tuple[str, str]):
    a, b = facades
    long_output = " ".join(f"word{i}" for i in range(60))
    received: list[dict[str, Any]] = []
    ws = await RhoneWsClient.connect(a, API_KEY)
    run = ws.runs.create("openai.chat", body_for("openai.chat", ASK))
    received += await until(run, "run.requires_action")
    (call,) = received[-1]["tool_calls"]
    await run.submit_tool_outputs([{"tool_call_id": call["id"], "output": long_output}])
    async for frame in run:  # a few events of the second step, then the connection dies
        received.append(frame)
        if len(events_of(received, 2)) == 5:
            break
    ws._conn.transport.abort()  # no close frame: as a network failure looks
    with pytest.raises(RhoneWsClosed):
        async for frame in run:
            received.append(frame)
    cut_at = run.last_seq
    async with await RhoneWsClient.connect(b, API_KEY) as other:
        resumed = other.runs.attach(run.run_id, after=cut_at)
        rest = await asyncio.wait_for(until(resumed, "run.completed"), 60)
    # The step went on while nobody listened: the new socket got the rest, not a restart.
    assert rest[0]["seq"] == cut_at + 1
    everything = received + rest
    assert [f["seq"] for f in everything] == list(range(1, len(everything) + 1))
    assert everything == await log_of(b, run.run_id)
    assert text_of("openai.chat", events_of(everything, 2)) == (
        f"Tool get_weather returned: {long_output}"
    )
    assert len(events_of(rest)) > 5  # the cut really was mid-stream


async def test_an_agent_loop_keeps_going_across_facades(facades: tuple[str, str]):
    """Each tool round on another facade, each over a new socket."""
    a, b = facades
    async with await RhoneWsClient.connect(a, API_KEY) as ws:
        run = ws.runs.create("anthropic.messages", body_for("anthropic.messages", ASK))
        (call,) = (await until(run, "run.requires_action"))[-1]["tool_calls"]
        seq = run.last_seq
    async with await RhoneWsClient.connect(b, API_KEY) as ws:
        resumed = ws.runs.attach(run.run_id, after=seq)
        await resumed.submit_tool_outputs([{"tool_call_id": call["id"], "output": "fine"}])
        rest = await asyncio.wait_for(until(resumed, "run.completed"), 60)
    assert text_of("anthropic.messages", events_of(rest)) == "Tool get_weather returned: fine"


async def test_a_paused_run_past_its_timeout_expires(facades: tuple[str, str]):
    _, b = facades
    async with await RhoneWsClient.connect(b, API_KEY) as ws:
        run = ws.runs.create("vertex.generate_content", body_for("vertex.generate_content", ASK))
        paused = (await until(run, "run.requires_action"))[-1]
        (call,) = paused["tool_calls"]
        ended = await asyncio.wait_for(until(run, "run.failed"), SHORT_WAIT_S + 30)
        assert ended[-1]["code"] == "run_expired" and ended[-1]["status"] == 408
        late = ws.runs.attach(run.run_id, after=run.last_seq)
        await late.submit_tool_outputs([{"tool_call_id": call["id"], "output": "too late"}])
        with pytest.raises(RhoneWsError) as refused:
            await anext(late)
        assert refused.value.code == "run_ended"
    async with httpx.AsyncClient() as http:
        shown = await http.get(
            f"{b}/v1/runs/{run.run_id}", headers={"authorization": f"Bearer {API_KEY}"}
        )
    assert shown.json()["status"] == "expired"


async def test_cancel_from_another_facade_during_a_tool_wait(facades: tuple[str, str]):
    a, b = facades
    async with await RhoneWsClient.connect(a, API_KEY) as ws:
        run = ws.runs.create("openai.responses", body_for("openai.responses", ASK))
        await until(run, "run.requires_action")
        async with await RhoneWsClient.connect(b, API_KEY) as other:
            await other.runs.attach(run.run_id, after=run.last_seq).cancel()
            # The socket on facade A sees the cancel made on facade B.
            (cancelled,) = [frame async for frame in run]
    assert cancelled["type"] == "run.cancelled"


def long_chat() -> dict[str, Any]:
    """A first step that streams for a while (60 words, each a slow token) and asks no tool."""
    words = " ".join(f"word{i}" for i in range(60))
    return {"model": "local", "messages": [{"role": "user", "content": words}]}


async def session_turns(base_url: str, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(
            f"{base_url}/v1/sessions/{session_id}/turns",
            headers={"authorization": f"Bearer {API_KEY}"},
        )
    return reply.json()["data"]


@pytest.mark.parametrize("where", ["same facade", "other facade"])
async def test_cancel_while_a_step_streams(facades: tuple[str, str], where: str):
    """A cancel mid-stream ends the run as cancelled and records nothing of the step, whether
    it reaches the facade running the step or another one (which stops it at its next event)."""
    a, b = facades
    async with await RhoneWsClient.connect(a, API_KEY) as ws:
        run = ws.runs.create("openai.chat", long_chat())
        frames = []
        async for frame in run:
            frames.append(frame)
            if len(events_of(frames)) == 3:
                break
        if where == "same facade":
            await ws.runs.attach(run.run_id, after=run.last_seq).cancel()
            rest = [frame async for frame in ws.runs.attach(run.run_id, after=run.last_seq)]
        else:
            async with await RhoneWsClient.connect(b, API_KEY) as other:
                follower = other.runs.attach(run.run_id, after=run.last_seq)
                await follower.cancel()
                rest = [frame async for frame in follower]
    assert rest[-1]["type"] == "run.cancelled"
    assert [f["seq"] for f in frames + rest] == list(range(1, len(frames + rest) + 1))
    # Cut short: fewer events than the whole answer, and no turn recorded.
    assert "word59" not in text_of("openai.chat", events_of(frames + rest))
    assert await session_turns(a, frames[0]["session_id"]) == []


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_a_run_whose_facade_stops_mid_step_ends_cleanly(stack: list[Cluster], how: str):
    """A facade shut down gracefully finishes its running step first (the drain); one killed
    stops beating, and the replica a client attaches to fails the run: either way the client
    gets a last frame, never a run that stays `running`."""
    _, b, c = stack
    if "facade" not in c.processes:
        c.start()
        c.wait_ready(60)
    async with await RhoneWsClient.connect(c.base_url, API_KEY) as ws:
        run = ws.runs.create("openai.chat", long_chat())
        frames = []
        async for frame in run:
            frames.append(frame)
            if len(events_of(frames)) == 3:
                break
        if how == "SIGKILL":
            c.processes.pop("facade").kill()
        else:
            c.stop_service("facade")
    # A graceful stop drains (RHONE_SHUTDOWN_GRACE_S): the step in flight finishes on the
    # stopping facade, and the run completes. A killed facade's step is lost: the run fails.
    last = "run.completed" if how == "SIGTERM" else "run.failed"
    async with await RhoneWsClient.connect(b.base_url, API_KEY) as other:
        resumed = other.runs.attach(run.run_id, after=run.last_seq)
        rest = await asyncio.wait_for(until(resumed, last), 30)
    everything = frames + rest
    assert [f["seq"] for f in everything] == list(range(1, len(everything) + 1))
    turns = await session_turns(b.base_url, frames[0]["session_id"])
    if how == "SIGTERM":
        assert len(turns) == 1
        return
    assert rest[-1]["code"] == "stream_interrupted" and rest[-1]["status"] == 503
    assert turns == []
