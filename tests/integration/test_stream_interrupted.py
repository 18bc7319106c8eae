"""A stream cut off below the facade never looks complete: SIGKILL the translator (or the
providers service) in the middle of an answer, and every official SDK raises, or reads the
surface's own failure event, instead of returning a truncated answer as if it were whole.
Nothing of the cut call is recorded in the session.

The cluster here is this module's own (its processes are killed and started again); the
local model streams slowly so that a kill lands mid-answer."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from rhone.launcher import Cluster, Ports
from rhone.ws_client import RhoneWsClient, RhoneWsError
from tests.integration.conftest import API_KEY

# Forty words to echo: the local model answers word by word, one every TOKEN_DELAY_MS.
LONG = " ".join(f"word{i}" for i in range(40))
TOKEN_DELAY_MS = 40
# Deltas read before the kill: the answer has started and is far from done.
BEFORE_KILL = 4
CUT_MESSAGE = "The answer was cut off"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("interrupted")
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": API_KEY,
            "RHONE_DATABASE_URL": f"sqlite:///{root}/rhone.db",
            "RHONE_LOCAL_TOKEN_DELAY_MS": str(TOKEN_DELAY_MS),
            "RHONE_LOG_LEVEL": "INFO",
        },
        log_dir=Path(os.environ.get("RHONE_TEST_LOGS", root / "logs")) / "interrupted",
    )
    cluster.start()
    try:
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=cluster.base_url, headers={"authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as client:
        yield client


def kill(cluster: Cluster, name: str) -> None:
    """SIGKILL: the process gets no chance to end anything it started."""
    process = cluster.processes.pop(name)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def revive(cluster: Cluster, name: str) -> None:
    """Starts the service again and waits until a call goes through it."""
    cluster.start_service(name)
    deadline = time.monotonic() + 45
    with httpx.Client(base_url=cluster.base_url, timeout=10) as client:
        while time.monotonic() < deadline:
            reply = client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {API_KEY}"},
                json={"model": "local", "messages": [{"role": "user", "content": "up?"}]},
            )
            if reply.status_code == 200:
                return
            time.sleep(0.1)
    raise TimeoutError(f"{name} did not come back")


@pytest.fixture
def killer(cluster: Cluster) -> Iterator[Any]:
    """kill(name) for the test; whatever it killed is started again afterwards."""
    killed: list[str] = []

    def kill_now(name: str) -> None:
        kill(cluster, name)
        killed.append(name)

    yield kill_now
    for name in killed:
        revive(cluster, name)


def new_session(http: httpx.Client) -> str:
    reply = http.post("/v1/sessions", json={})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def turns(http: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    reply = http.get(f"/v1/sessions/{session_id}/turns")
    assert reply.status_code == 200, reply.text
    return list(reply.json()["data"])


def test_chat_stream_raises_when_the_translator_dies(cluster: Cluster, http, killer):
    session_id = new_session(http)
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": LONG}],
        stream=True,
        extra_body={"rhone": {"session_id": session_id}},
    )
    text = ""
    with pytest.raises(openai.APIError) as raised:
        for deltas, chunk in enumerate(stream, start=1):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            if deltas == BEFORE_KILL:
                killer("translator")
    assert CUT_MESSAGE in raised.value.message
    assert text and "word39" not in text  # it really was cut
    assert turns(http, session_id) == []


def test_responses_stream_ends_with_response_failed(cluster: Cluster, http, killer):
    session_id = new_session(http)
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    events = []
    with client.responses.stream(
        model="local", input=LONG, extra_body={"rhone": {"session_id": session_id}}
    ) as stream:
        for event in stream:
            events.append(event)
            if len(events) == BEFORE_KILL + 4:  # created, in_progress, item and part added
                killer("translator")
        with pytest.raises(RuntimeError, match=r"response\.completed"):
            stream.get_final_response()
    assert events[0].type == "response.created"
    last = events[-1]
    assert last.type == "response.failed"
    assert last.response.id == events[0].response.id
    assert last.response.error is not None and CUT_MESSAGE in last.response.error.message
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert turns(http, session_id) == []


def test_anthropic_stream_raises_when_the_translator_dies(cluster: Cluster, http, killer):
    session_id = new_session(http)
    client = anthropic.Anthropic(base_url=cluster.base_url, api_key=API_KEY, max_retries=0)
    text = ""
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(
            model="local",
            max_tokens=500,
            messages=[{"role": "user", "content": LONG}],
            extra_body={"rhone": {"session_id": session_id}},
        ) as stream:
            for deltas, piece in enumerate(stream.text_stream, start=1):
                text += piece
                if deltas == BEFORE_KILL:
                    killer("translator")
    assert CUT_MESSAGE in str(raised.value)
    assert text and "word39" not in text
    assert turns(http, session_id) == []


def test_gemini_sse_stream_raises_when_the_translator_dies(cluster: Cluster, killer):
    client = genai.Client(
        api_key=API_KEY, http_options=genai_types.HttpOptions(base_url=cluster.base_url)
    )
    text = ""
    with pytest.raises(genai_errors.ServerError) as raised:
        for deltas, chunk in enumerate(
            client.models.generate_content_stream(model="local", contents=LONG), start=1
        ):
            text += chunk.text or ""
            if deltas == BEFORE_KILL:
                killer("translator")
    assert raised.value.code == 503 and CUT_MESSAGE in (raised.value.message or "")
    assert text and "word39" not in text


def test_gemini_json_array_stream_ends_with_an_error_element(cluster: Cluster, killer):
    """Without alt=sse the stream is one JSON array: it is closed, its last element the
    error object, so the whole body still parses."""
    body = b""
    with (
        httpx.Client(base_url=cluster.base_url, timeout=30) as client,
        client.stream(
            "POST",
            "/v1beta/models/local:streamGenerateContent",
            headers={"x-goog-api-key": API_KEY},
            json={"contents": [{"role": "user", "parts": [{"text": LONG}]}]},
        ) as reply,
    ):
        assert reply.status_code == 200
        for chunks, chunk in enumerate(reply.iter_bytes(), start=1):
            body += chunk
            if chunks == BEFORE_KILL:
                killer("translator")
    elements = orjson.loads(body)
    assert "candidates" in elements[0]
    error = elements[-1]["error"]
    assert error["code"] == 503 and CUT_MESSAGE in error["message"]


async def test_rhone_socket_call_ends_with_call_error(cluster: Cluster, killer):
    async with await RhoneWsClient.connect(cluster.base_url, API_KEY) as ws:
        await ws.bind_session()
        events = []
        with pytest.raises(RhoneWsError) as raised:
            call = ws.create(
                "openai.chat",
                {"model": "local", "messages": [{"role": "user", "content": LONG}]},
            )
            async for event in call:
                events.append(event)
                if len(events) == BEFORE_KILL:
                    killer("translator")
    frame = raised.value.frame
    assert frame["type"] == "call.error" and frame["code"] == "stream_interrupted"
    assert frame["status"] == 503
    # The shape's own error event came first, as for any failure after the first event.
    assert events[-1]["error"]["code"] == "stream_interrupted"


def test_responses_socket_ends_with_an_error_event(cluster: Cluster, killer):
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    with client.responses.connect() as connection:
        connection.response.create(model="local", input=LONG)
        events = []
        for event in connection:
            events.append(event)
            if len(events) == BEFORE_KILL + 4:
                killer("translator")
            if event.type == "error":
                break
    assert [e.type for e in events[-2:]] == ["response.failed", "error"]
    assert events[-2].response.id == events[0].response.id
    assert CUT_MESSAGE in events[-1].error.message
    assert not any(e.type == "response.completed" for e in events)


def test_chat_stream_raises_when_the_providers_service_dies(cluster: Cluster, http, killer):
    """The hop below the translator: its broken providers stream becomes a failure event."""
    session_id = new_session(http)
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=API_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="local",
        messages=[{"role": "user", "content": LONG}],
        stream=True,
        extra_body={"rhone": {"session_id": session_id}},
    )
    with pytest.raises(openai.APIError) as raised:
        for deltas, _ in enumerate(stream, start=1):
            if deltas == BEFORE_KILL:
                killer("providers")
    assert "providers service is unavailable" in raised.value.message
    assert turns(http, session_id) == []


@pytest.mark.parametrize("dies", ["translator", "providers"])
def test_public_grpc_generate_ends_with_a_failure_event_then_a_non_ok_status(
    cluster: Cluster, http, killer, dies: str
):
    import grpc

    from rhone.api.v1 import gateway_pb2, gateway_pb2_grpc
    from tests.integration.grpc_support import bearer, rich_error, user

    session_id = new_session(http)
    received: list[Any] = []
    with grpc.insecure_channel(f"127.0.0.1:{cluster.ports.grpc}") as channel:
        stream = gateway_pb2_grpc.GatewayStub(channel).Generate(
            gateway_pb2.GenerateRequest(
                model="local", messages=[user(LONG)], session_id=session_id
            ),
            metadata=bearer(API_KEY),
            timeout=30,
        )
        with pytest.raises(grpc.RpcError) as caught:
            deltas = 0
            for message in stream:
                received.append(message)
                if message.HasField("event") and message.event.HasField("part_delta"):
                    deltas += 1
                    if deltas == BEFORE_KILL:
                        killer(dies)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.retry_delay_s is not None
    assert received[0].session.session_id == session_id
    assert received[-1].event.HasField("failure")
    assert received[-1].event.failure.message == error.message
    assert turns(http, session_id) == []
