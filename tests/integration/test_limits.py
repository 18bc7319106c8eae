"""Limits and their errors (request body size, rhone.ws.v1 limits and close codes), on a
deployment configured with small limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import anthropic
import openai
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rhone.launcher import Cluster, Ports
from tests.integration.conftest import API_KEY


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("ws-limits")
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            "RHONE_WS_MAX_CALLS": "2",
            "RHONE_WS_IDLE_TIMEOUT_S": "1",
            "RHONE_WS_MAX_FRAME_BYTES": "65536",
            "RHONE_MAX_BODY_BYTES": "65536",
            # Slow local answers keep calls in flight long enough to count them.
            "RHONE_LOCAL_TOKEN_DELAY_MS": "30",
        },
        log_dir=root / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


def socket(cluster: Cluster):  # type: ignore[no-untyped-def]
    return connect(
        cluster.base_url.replace("http", "ws") + "/v1/ws",
        subprotocols=["rhone.ws.v1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    )


def create(call_id: str) -> str:
    body = {"model": "local", "messages": [{"role": "user", "content": f"call {call_id}"}]}
    frame = {"type": "call.create", "call_id": call_id, "surface": "openai.chat", "body": body}
    return orjson.dumps(frame).decode()


async def test_calls_in_flight_are_limited(small: Cluster):
    async with socket(small) as sock:
        for call_id in ("a", "b", "c"):
            await sock.send(create(call_id))
        refused, ended = None, set()
        while len(ended) < 2:
            frame = orjson.loads(await sock.recv())
            if frame["type"] == "error":
                refused = frame
            elif frame["type"] in ("call.done", "call.error"):
                ended.add(frame["call_id"])
    assert refused is not None
    assert (refused["code"], refused["call_id"]) == ("too_many_calls", "c")
    assert ended == {"a", "b"}


async def test_a_duplicate_call_id_is_refused(small: Cluster):
    async with socket(small) as sock:
        await sock.send(create("same"))
        await sock.send(create("same"))
        frames = [orjson.loads(await sock.recv()) for _ in range(3)]
    assert {"type": "error", "code": "duplicate_call_id"}.items() <= next(
        f for f in frames if f["type"] == "error"
    ).items()


async def test_an_idle_socket_is_closed_with_4000(small: Cluster):
    async with socket(small) as sock:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sock.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


async def test_a_frame_over_the_limit_closes_with_1009(small: Cluster):
    async with socket(small) as sock:
        await sock.send('{"type":"ping","data":"' + "x" * 70_000 + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sock.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_binary_frame_closes_with_1002(small: Cluster):
    async with socket(small) as sock:
        await sock.send(b'{"type":"ping"}')
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(sock.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002


def test_a_body_over_the_limit_is_413_in_each_surfaces_shape(small: Cluster):
    big = "x" * 70_000
    chat = openai.OpenAI(base_url=small.base_url + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as too_big:
        chat.chat.completions.create(model="local", messages=[{"role": "user", "content": big}])
    assert too_big.value.status_code == 413
    assert too_big.value.code == "request_too_large"
    claude = anthropic.Anthropic(base_url=small.base_url, api_key=API_KEY, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as too_big_too:
        claude.messages.create(
            model="local", max_tokens=5, messages=[{"role": "user", "content": big}]
        )
    assert too_big_too.value.status_code == 413
    assert too_big_too.value.body["error"]["type"] == "request_too_large"
