"""SIGTERM drains the facade: readiness goes false at once, new calls get a 503 in the surface's
shape, the calls in flight (an SSE stream and a WebSocket call) run to their end, the WebSocket
is then closed with 1012 (service restart), and the process exits by itself.

The local model streams slowly here (RHONE_LOCAL_TOKEN_DELAY_MS), so the calls are really in
flight when the signal arrives."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rhone.launcher import Cluster, Ports
from tests.integration.conftest import API_KEY


@pytest.fixture
def draining_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{tmp_path}/rhone.db",
            "RHONE_LOCAL_TOKEN_DELAY_MS": "150",
            "RHONE_SHUTDOWN_GRACE_S": "30",
        },
        log_dir=tmp_path / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


async def wait_for(condition, within_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if value := await condition():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigterm_lets_streams_and_socket_calls_finish_then_exits(draining_cluster: Cluster):
    cluster = draining_cluster
    facade = cluster.processes["facade"]
    client = openai.AsyncOpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    http = httpx.AsyncClient(base_url=cluster.base_url, timeout=10)

    stream = await client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "one two three"}], stream=True
    )
    chunks = stream.__aiter__()
    first = await anext(chunks)
    assert first.choices[0].delta.role == "assistant"

    socket = await connect(
        cluster.base_url.replace("http://", "ws://") + "/v1/ws",
        subprotocols=["rhone.ws.v1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    )
    body = {"model": "local", "messages": [{"role": "user", "content": "over the socket"}]}
    await socket.send(
        orjson.dumps(
            {"type": "call.create", "call_id": "c1", "surface": "openai.chat", "body": body}
        ).decode()
    )
    assert orjson.loads(await socket.recv())["type"] == "call.event"

    facade.send_signal(signal.SIGTERM)

    async def not_ready() -> bool:
        return (await http.get("/readyz")).status_code == 503

    await wait_for(not_ready, 5, "/readyz to turn 503")
    assert (await http.get("/healthz")).status_code == 200

    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "too late"}]
        )
    assert refused.value.status_code == 503
    assert refused.value.body["type"] == "server_error"  # type: ignore[index]

    # A new socket is refused at the upgrade, a new call on the open one the socket's way;
    # the call in flight goes on.
    with pytest.raises(InvalidStatus) as denied:
        await connect(
            cluster.base_url.replace("http://", "ws://") + "/v1/ws",
            subprotocols=["rhone.ws.v1"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {API_KEY}"},
        )
    assert denied.value.response.status_code == 503
    await socket.send(
        orjson.dumps(
            {"type": "call.create", "call_id": "c2", "surface": "openai.chat", "body": body}
        ).decode()
    )

    text = "".join([chunk.choices[0].delta.content or "" async for chunk in chunks])
    assert text.startswith('You said: "one two three".'), text

    frames = []
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(orjson.loads(await socket.recv()))
    by_call = {(f["type"], f.get("call_id")) for f in frames}
    assert ("call.done", "c1") in by_call
    refusal = next(f for f in frames if f.get("call_id") == "c2")
    assert refusal["type"] == "call.error" and refusal["status"] == 503
    assert refusal["code"] == "draining"
    assert socket.close_code == 1012

    await wait_for(
        lambda: asyncio.sleep(0, facade.poll() is not None), 15, "the facade to exit by itself"
    )
    assert facade.returncode == 0
    await http.aclose()
