"""rhone.ws.v1 over a real socket: frames, sessions, surfaces, concurrency, cancel, errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from rhone.launcher import Cluster
from rhone.sse import SseDecoder
from rhone.ws_client import RhoneWsClient, RhoneWsError
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Hang, Text
from tests.integration.conftest import API_KEY


def chat(text: str, **extra: object) -> dict:
    return {"model": "local", "messages": [{"role": "user", "content": text}], **extra}


async def collect(stream) -> list[dict]:
    return [event async for event in stream]


def chat_text(events: list[dict]) -> str:
    return "".join((e["choices"][0]["delta"].get("content") or "") for e in events if e["choices"])


async def test_bound_socket_runs_calls_that_remember_each_other(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        session_id = await ws.bind_session()
        assert session_id.startswith("sess_")
        first = ws.create("openai.chat", chat("I am on a socket"))
        assert chat_text(await collect(first)).startswith('You said: "I am on a socket"')
        assert first.session_id == session_id
        second = ws.create("openai.chat", chat("what did I say first?"))
        assert chat_text(await collect(second)) == (
            'You said: "what did I say first?". This is user turn 2; '
            'your first message was: "I am on a socket".'
        )


async def test_calls_on_one_session_are_ordered_not_refused(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session()
        streams = [ws.create("openai.chat", chat(f"message {i}")) for i in range(4)]
        texts = [chat_text(await collect(s)) for s in streams]
    assert [t.split("This is user turn ")[1][0] for t in texts] == ["1", "2", "3", "4"]


async def test_stream_events_equal_the_http_stream_of_the_same_request(base_url: str):
    body = {"model": "local", "max_tokens": 100, "messages": [{"role": "user", "content": "same"}]}
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            base_url + "/v1/messages",
            json={**body, "stream": True},
            headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
        )
    decoder = SseDecoder()
    sse = [orjson.loads(e.data) for e in [*decoder.feed(reply.text), *decoder.close()]]
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        events = await collect(ws.create("anthropic.messages", body))

    def normal(e: dict) -> dict:  # ids and session ids differ per call, nothing else
        if e["type"] == "message_start":
            e = {**e, "message": {**e["message"], "id": "x", "rhone": None}}
        return e

    assert [normal(e) for e in events] == [normal(e) for e in sse]


async def test_many_concurrent_calls_on_one_socket(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        streams = [ws.create("openai.chat", chat(f"parallel {i}")) for i in range(12)]
        results = await asyncio.gather(*(collect(s) for s in streams))
    for i, events in enumerate(results):
        assert chat_text(events).startswith(f'You said: "parallel {i}"')
    assert len({s.session_id for s in streams}) == 12


async def test_responses_and_canonical_shapes(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session()
        events = await collect(ws.create("openai.responses", {"model": "local", "input": "hi"}))
        assert (
            events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
        )
        canonical = await collect(
            ws.create(
                "rhone.canonical",
                {
                    "request": {
                        "model": "local",
                        "messages": [{"role": "ROLE_USER", "parts": [{"text": {"text": "canon"}}]}],
                    }
                },
            )
        )
    assert "started" in canonical[0] and "finished" in canonical[-1]
    text = "".join(e["part_delta"].get("text", "") for e in canonical if "part_delta" in e)
    assert text == 'You said: "canon". This is user turn 2; your first message was: "hi".'


async def test_errors_are_frames_with_a_stable_code_and_the_shapes_error(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as bad:
            await collect(ws.create("openai.chat", {"model": "local", "messages": []}))
        assert bad.value.code == "invalid_request" and bad.value.status == 400
        assert bad.value.error["error"]["param"] == "messages"
        with pytest.raises(RhoneWsError) as missing:
            await collect(
                ws.create(
                    "anthropic.messages",
                    {
                        "model": "nope",
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "x"}],
                    },
                )
            )
        assert missing.value.code == "model_not_found" and missing.value.status == 404
        assert missing.value.error["error"]["type"] == "not_found_error"
        with pytest.raises(RhoneWsError) as unknown:
            await ws.bind_session("sess_00000000000000000000000000000000")
        assert unknown.value.code == "session_not_found"


async def test_protocol_errors(base_url: str):
    url = base_url.replace("http", "ws") + "/v1/ws"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with connect(url, subprotocols=["rhone.ws.v1"], additional_headers=headers) as sock:  # type: ignore[list-item]
        await sock.send("not json")
        assert orjson.loads(await sock.recv())["code"] == "invalid_json"
        await sock.send('{"type":"teleport"}')
        assert orjson.loads(await sock.recv())["code"] == "unknown_frame_type"
        await sock.send('{"type":"call.create","call_id":"c","surface":"fax","body":{}}')
        frame = orjson.loads(await sock.recv())
        assert (frame["code"], frame["call_id"]) == ("invalid_surface", "c")
        # The field's first name, `shape`, names its own error.
        await sock.send('{"type":"call.create","call_id":"c","shape":"fax","body":{}}')
        frame = orjson.loads(await sock.recv())
        assert (frame["code"], frame["call_id"]) == ("invalid_shape", "c")
        await sock.send('{"type":"ping","data":7}')
        assert orjson.loads(await sock.recv()) == {"type": "pong", "data": 7}


async def test_upgrade_failures_are_plain_http_errors(base_url: str):
    url = base_url.replace("http", "ws") + "/v1/ws"
    with pytest.raises(InvalidStatus) as unauthorized:
        async with connect(
            url, subprotocols=["rhone.ws.v1"], additional_headers={"Authorization": "Bearer wrong"}
        ):  # type: ignore[list-item]
            pass
    assert unauthorized.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as no_subprotocol:
        async with connect(url, additional_headers={"Authorization": f"Bearer {API_KEY}"}):
            pass
    assert no_subprotocol.value.response.status_code == 400


async def test_browser_style_auth_with_a_key_subprotocol(base_url: str):
    url = base_url.replace("http", "ws") + "/v1/ws"
    async with connect(url, subprotocols=["rhone.ws.v1", f"rhone.key.{API_KEY}"]) as sock:  # type: ignore[list-item]
        assert sock.subprotocol == "rhone.ws.v1"
        await sock.send('{"type":"session.bind","session_id":null}')
        assert orjson.loads(await sock.recv())["type"] == "session.bound"


async def test_cancel_reaches_the_upstream_and_records_nothing(
    base_url: str, fake_openai: FakeOpenAI
):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        await ws.bind_session()
        await collect(ws.create("openai.chat", chat("first")))
        fake_openai.script(Hang())
        hanging = ws.create(
            "openai.chat", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hang"}]}
        )
        events = hanging.__aiter__()
        await events.__anext__()
        await hanging.cancel()
        assert await collect(events) == []
        assert await asyncio.to_thread(fake_openai.disconnected.wait, 10)
        after = chat_text(await collect(ws.create("openai.chat", chat("after cancel"))))
    assert "This is user turn 2" in after


async def test_a_vanishing_client_cancels_its_calls(base_url: str, fake_openai: FakeOpenAI):
    fake_openai.script(Hang())
    ws = await RhoneWsClient.connect(base_url, API_KEY)
    session_id = await ws.bind_session()
    stream = ws.create(
        "openai.chat", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hang"}]}
    )
    await stream.__aiter__().__anext__()
    await ws.close()
    assert await asyncio.to_thread(fake_openai.disconnected.wait, 10)
    async with await RhoneWsClient.connect(base_url, API_KEY) as again:
        await again.bind_session(session_id)
        text = chat_text(await collect(again.create("openai.chat", chat("still empty?"))))
    assert "This is user turn 1" in text


async def test_a_reader_that_stops_reading_holds_the_facade_to_its_budget(
    base_url: str, cluster: Cluster, fake_openai: FakeOpenAI
):
    """Backpressure (docs/rhone-ws-v1.md, "Ordering, concurrency and limits"): a client that
    reads nothing while a long answer streams makes its call wait. The facade holds at most
    RHONE_WS_MAX_QUEUED_BYTES (4 MiB) of it, however long the answer, and takes no more from
    the translator until the client reads (gRPC flow control then stops the translator and the
    upstream); its memory does not grow with the answer. When the client reads again, every
    event arrives, in order, and the call ends well."""
    words = [f"<{i}>" + "x" * CHUNK_CHARS + " " for i in range(CHUNKS)]
    answer = "".join(words)
    fake_openai.script(Text(chunks=words))
    facade_before = _rss_bytes(cluster.processes["facade"].pid)
    # A client whose kernel buffers hold little (the default autotunes to tens of MiB on
    # loopback), and whose library stops reading the socket once 4 messages wait for it.
    raw = socket.create_connection(("127.0.0.1", int(base_url.rsplit(":", 1)[1])))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    raw.setblocking(False)
    async with connect(
        base_url.replace("http", "ws") + "/v1/ws",
        sock=raw,
        subprotocols=["rhone.ws.v1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
        max_queue=4,
        max_size=None,
        compression=None,  # the answer's bytes cross the wire as they are
    ) as sock:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "long"}]}
        create = {"type": "call.create", "call_id": "slow", "surface": "openai.chat", "body": body}
        await sock.send(orjson.dumps(create).decode())
        # Until everything between the upstream and the client is at rest.
        await _steady(lambda: fake_openai.sent_bytes)
        queued = await _gauge(base_url, "rhone_ws_queued_bytes")
        assert 0 < queued <= WS_MAX_QUEUED_BYTES
        grown = _rss_bytes(cluster.processes["facade"].pid) - facade_before
        # At rest the facade has grown by 8-19 MB (the 4 MiB queue, gRPC's and the allocator's
        # buffers; the most on a slow machine), however long the answer: never the answer.
        assert grown < len(answer) / 2, f"the facade grew by {grown} bytes"
        text, last = "", None
        async for message in sock:
            frame = orjson.loads(message)
            if frame["type"] == "call.event" and frame["event"].get("choices"):
                text += frame["event"]["choices"][0]["delta"].get("content") or ""
            if frame["type"] != "call.event":
                last = frame
                break
    assert last is not None and last["type"] == "call.done", last
    assert text == answer
    assert await _gauge(base_url, "rhone_ws_queued_bytes") == 0


# The backpressure test's answer: 48 MB, many times what a socket may hold at the facade.
CHUNKS = 1000
CHUNK_CHARS = 48_000
WS_MAX_QUEUED_BYTES = 4 * 1024 * 1024  # RHONE_WS_MAX_QUEUED_BYTES' default


async def _steady(read: Callable[[], int], still_s: float = 1.5, timeout_s: float = 30) -> int:
    """The value of `read()` once it is above 0 and has not changed for `still_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    value, since = read(), loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.1)
        now = read()
        if now != value or now == 0:
            value, since = now, loop.time()
        elif loop.time() - since >= still_s:
            return value
    raise AssertionError(f"still changing after {timeout_s} s (now {read()})")


async def _gauge(base_url: str, name: str) -> float:
    async with httpx.AsyncClient() as http:
        page = (await http.get(base_url + "/metrics")).text
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"{name} is not on the facade's /metrics")


def _rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]
    return int(kib) * 1024


async def test_a_socket_may_rebind_to_another_session_and_back(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        first = await ws.bind_session()
        await collect(ws.create("openai.chat", chat("in the first session")))
        second = await ws.bind_session()
        assert second != first
        fresh = chat_text(await collect(ws.create("openai.chat", chat("in the second"))))
        assert "This is user turn 1" in fresh
        assert await ws.bind_session(first) == first
        back = chat_text(await collect(ws.create("openai.chat", chat("back again"))))
    assert back == (
        'You said: "back again". This is user turn 2; '
        'your first message was: "in the first session".'
    )


async def test_early_cancels_end_their_call_and_free_the_session(base_url: str):
    url = base_url.replace("http", "ws") + "/v1/ws"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with connect(url, subprotocols=["rhone.ws.v1"], additional_headers=headers) as sock:  # type: ignore[list-item]
        await sock.send('{"type":"session.bind","session_id":null}')
        assert orjson.loads(await sock.recv())["type"] == "session.bound"
        for round_ in range(15):
            doomed, after = f"doomed-{round_}", f"after-{round_}"
            body = chat(f"round {round_}")
            # The cancel follows its create at once: often before the call has even started.
            for frame in (
                {"type": "call.create", "call_id": doomed, "surface": "openai.chat", "body": body},
                {"type": "call.cancel", "call_id": doomed},
                {"type": "call.create", "call_id": after, "surface": "openai.chat", "body": body},
            ):
                await sock.send(orjson.dumps(frame).decode())
            ends: dict[str, str] = {}
            while len(ends) < 2:
                frame = orjson.loads(await asyncio.wait_for(sock.recv(), 20))
                if frame["type"] in ("call.done", "call.error", "call.cancelled"):
                    ends[frame["call_id"]] = frame["type"] + ":" + frame.get("code", "")
                elif frame["type"] == "error" and frame.get("call_id") == doomed:
                    ends[doomed] = "already-finished"  # the call ended before its cancel came
            assert ends[after] == "call.done:", ends
            assert ends[doomed] in ("call.cancelled:", "call.done:", "already-finished"), ends
