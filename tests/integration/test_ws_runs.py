"""Runs on rhone.ws.v1 (docs/rhone-ws-v1.md, "Runs"): tool rounds on every surface and on three
upstream providers, pauses, cancel, limits, errors, and the HTTP view of a run."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from rhone.sse import SseDecoder
from rhone.ws_client import RhoneWsClient, RhoneWsError, RunStream
from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Text, ToolCall
from tests.integration.conftest import API_KEY, OTHER_KEY

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ASK = 'Use get_weather with {"city": "Rome"}'
EXAMPLE = Path(__file__).parents[2] / "examples" / "ws_gemini_agent.py"


def body_for(surface: str, text: str, model: str = "local") -> dict[str, Any]:
    """A first body with one tool, in the surface's own words."""
    if surface == "openai.chat":
        tool = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
        return {"model": model, "messages": [{"role": "user", "content": text}], "tools": [tool]}
    if surface == "openai.responses":
        tool = {"type": "function", "name": "get_weather", "parameters": SCHEMA}
        return {"model": model, "input": text, "tools": [tool]}
    if surface == "anthropic.messages":
        tool = {"name": "get_weather", "input_schema": SCHEMA}
        return {
            "model": model,
            "max_tokens": 200,
            "messages": [{"role": "user", "content": text}],
            "tools": [tool],
        }
    tool = {"functionDeclarations": [{"name": "get_weather", "parameters": SCHEMA}]}
    return {
        "model": model,
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "tools": [tool],
    }


def text_of(surface: str, events: list[dict[str, Any]]) -> str:
    """The answer's text from a surface's stream events."""
    out = []
    for e in events:
        if surface == "openai.chat":
            out += [c["delta"].get("content") or "" for c in e.get("choices", [])]
        elif surface == "openai.responses" and e.get("type") == "response.output_text.delta":
            out.append(e["delta"])
        elif surface == "anthropic.messages" and e.get("type") == "content_block_delta":
            out.append(e["delta"].get("text", ""))
        elif surface.endswith("generate_content"):
            for c in e.get("candidates", []):
                out += [p.get("text", "") for p in c.get("content", {}).get("parts", [])]
    return "".join(out)


async def until(run: RunStream, kind: str) -> list[dict[str, Any]]:
    """The run's frames up to and including the first of type `kind`."""
    frames = []
    async for frame in run:
        frames.append(frame)
        if frame["type"] == kind:
            return frames
    raise AssertionError(f"the run ended without {kind}: {frames[-1]}")


def events_of(frames: list[dict[str, Any]], step: int | None = None) -> list[dict[str, Any]]:
    return [
        f["event"]
        for f in frames
        if f["type"] == "run.event" and (step is None or f["step"] == step)
    ]


async def turns(base_url: str, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        reply = await http.get(
            f"{base_url}/v1/sessions/{session_id}/turns",
            headers={"authorization": f"Bearer {API_KEY}"},
        )
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


SURFACES = [
    "openai.chat",
    "openai.responses",
    "anthropic.messages",
    "gemini.generate_content",
    "vertex.generate_content",
]


@pytest.mark.parametrize("surface", SURFACES)
async def test_a_tool_round_on_every_surface(base_url: str, surface: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        run = ws.runs.create(surface, body_for(surface, ASK))
        first = await until(run, "run.requires_action")
        assert [f["seq"] for f in first] == list(range(1, len(first) + 1))
        assert first[0]["type"] == "run.created" and first[1] == {
            "type": "run.step",
            "run_id": run.run_id,
            "step": 1,
            "seq": 2,
        }
        (call,) = first[-1]["tool_calls"]
        assert call["name"] == "get_weather" and orjson.loads(call["arguments"]) == {"city": "Rome"}
        assert run.status == "requires_action"
        await run.submit_tool_outputs([{"tool_call_id": call["id"], "output": "25C"}])
        rest = [frame async for frame in run]
    assert rest[0]["type"] == "run.step" and rest[0]["step"] == 2
    # Gemini's functionResponse.response is an object: a text output goes as {"output": ...}.
    result = '{"output":"25C"}' if surface.endswith("generate_content") else "25C"
    assert text_of(surface, events_of(rest, 2)) == f"Tool get_weather returned: {result}"
    assert rest[-1] == {
        "type": "run.completed",
        "run_id": run.run_id,
        "steps": 2,
        "session_id": run.session_id,
        "seq": rest[-2]["seq"] + 1,
    }
    assert run.status == "completed"
    # Every model call of the run is a turn of its session.
    recorded = await turns(base_url, run.session_id or "")
    assert len(recorded) == 2


async def test_two_tool_rounds_on_three_providers(
    base_url: str,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
):
    cases = [
        ("openai.chat", "gpt-4o", fake_openai),
        ("anthropic.messages", "claude-sonnet-4-6", fake_anthropic),
        ("gemini.generate_content", "gemini-2.5-flash", fake_gemini),
    ]
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        for surface, model, fake in cases:
            fake.script(
                ToolCall("get_weather", ['{"city": "Oslo"}'], call_id="call_1"),
                ToolCall("get_weather", ['{"city": "Rome"}'], call_id="call_2"),
                Text(chunks=["Oslo is cold, ", "Rome is warm."]),
            )
            run = ws.runs.create(surface, body_for(surface, "weather in Oslo and Rome?", model))
            asked = []
            for output in ("-3C", "25C"):
                (call,) = (await until(run, "run.requires_action"))[-1]["tool_calls"]
                asked.append(orjson.loads(call["arguments"])["city"])
                await run.submit_tool_outputs([{"tool_call_id": call["id"], "output": output}])
            rest = [frame async for frame in run]
            assert asked == ["Oslo", "Rome"]
            assert text_of(surface, events_of(rest)) == "Oslo is cold, Rome is warm."
            assert rest[-1]["type"] == "run.completed" and rest[-1]["steps"] == 3
            # The upstream saw the whole conversation on each call, tool results included.
            assert len(fake.requests) == 3
            last = orjson.dumps(fake.requests[-1].body).decode()
            assert "-3C" in last and "25C" in last
            assert len(await turns(base_url, run.session_id or "")) == 3


async def test_cancel_during_a_tool_wait(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        run = ws.runs.create("openai.chat", body_for("openai.chat", ASK))
        (call,) = (await until(run, "run.requires_action"))[-1]["tool_calls"]
        await run.cancel()
        (cancelled,) = [frame async for frame in run]
        assert cancelled["type"] == "run.cancelled" and run.status == "cancelled"
        late = ws.runs.attach(run.run_id, after=run.last_seq)
        await late.submit_tool_outputs([{"tool_call_id": call["id"], "output": "x"}])
        with pytest.raises(RhoneWsError) as ended:
            await anext(late)
        assert ended.value.code == "run_ended"
    async with httpx.AsyncClient() as http:
        shown = await http.get(
            f"{base_url}/v1/runs/{run.run_id}", headers={"authorization": f"Bearer {API_KEY}"}
        )
    assert shown.json()["status"] == "cancelled" and shown.json()["pending_tool_calls"] == []
    # The paused run's one model call is recorded; nothing after it.
    assert len(await turns(base_url, run.session_id or "")) == 1


async def test_refused_frames_and_limits(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        with pytest.raises(RhoneWsError) as unknown:
            await anext(ws.runs.attach("run_nope"))
        assert unknown.value.code == "run_not_found"
        run = ws.runs.create("openai.chat", body_for("openai.chat", ASK), max_steps=1)
        frames = [frame async for frame in run]
        assert frames[-1]["type"] == "run.failed"
        assert frames[-1]["code"] == "max_steps_exceeded"
        again = ws.runs.create("openai.chat", body_for("openai.chat", ASK), run_id=run.run_id)
        with pytest.raises(RhoneWsError) as duplicate:
            await anext(again)
        assert duplicate.value.code == "duplicate_run_id"
        waiting = ws.runs.create("anthropic.messages", body_for("anthropic.messages", ASK))
        (call,) = (await until(waiting, "run.requires_action"))[-1]["tool_calls"]
        await waiting.submit_tool_outputs([{"tool_call_id": "toolu_other", "output": "x"}])
        with pytest.raises(RhoneWsError) as wrong:
            await anext(waiting)
        assert wrong.value.code == "invalid_tool_outputs"
        assert call["id"] in wrong.value.frame["message"]
        # Still waiting: the right answer goes through.
        await waiting.submit_tool_outputs([{"tool_call_id": call["id"], "output": "ok"}])
        rest = [frame async for frame in waiting]
        assert rest[-1]["type"] == "run.completed"
        bad = ws.runs.create("rhone.canonical", {"request": {}})
        with pytest.raises(RhoneWsError) as refused:
            await anext(bad)
        assert refused.value.code == "invalid_surface"


async def test_runs_over_http(base_url: str):
    headers = {"authorization": f"Bearer {API_KEY}"}
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        session_id = await ws.bind_session()
        run = ws.runs.create("gemini.generate_content", body_for("gemini.generate_content", ASK))
        seen = await until(run, "run.requires_action")
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
            shown = (await http.get(f"/v1/runs/{run.run_id}")).json()
            assert shown["status"] == "requires_action" and shown["session_id"] == session_id
            assert shown["steps"] == 1 and shown["last_seq"] == seen[-1]["seq"]
            assert [c["name"] for c in shown["pending_tool_calls"]] == ["get_weather"]
            (call,) = shown["pending_tool_calls"]
            await run.submit_tool_outputs([{"tool_call_id": call["id"], "output": "sunny"}])
            rest = [frame async for frame in run]
            # A browser resumes from the last event it saw: the rest, once, in order.
            async with http.stream("GET", f"/v1/runs/{run.run_id}/events?after=3") as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                decoder = SseDecoder()
                replay = [orjson.loads(e.data) async for e in _sse(stream, decoder)]
            missing = await http.get("/v1/runs/run_missing")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "run_not_found"
            bad = await http.get(f"/v1/runs/{run.run_id}/events?after=x")
            assert bad.status_code == 400
    assert replay == [f for f in [*seen, *rest] if f["seq"] > 3]


async def _sse(stream: httpx.Response, decoder: SseDecoder):
    async for text in stream.aiter_text():
        for event in decoder.feed(text):
            yield event
    for event in decoder.close():
        yield event


async def test_a_run_outlives_its_socket_on_the_same_facade(base_url: str):
    """A socket closed while its run waits: another socket attaches and finishes it."""
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        run = ws.runs.create("openai.chat", body_for("openai.chat", ASK))
        seen = await until(run, "run.requires_action")
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        again = ws.runs.attach(run.run_id, after=0)
        replay = await until(again, "run.requires_action")
        assert replay == seen
        (call,) = replay[-1]["tool_calls"]
        await again.submit_tool_outputs([{"tool_call_id": call["id"], "output": "ok"}])
        rest = await asyncio.wait_for(until(again, "run.completed"), 30)
    assert text_of("openai.chat", events_of(rest)) == "Tool get_weather returned: ok"


async def test_the_gemini_agent_example(base_url: str, capsys: pytest.CaptureFixture[str]):
    """examples/ws_gemini_agent.py against a real Rhone: a call, then a run with a tool."""
    spec = importlib.util.spec_from_file_location("ws_gemini_agent", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert await example.main(base_url, API_KEY, "local") == "completed"
    printed = capsys.readouterr().out
    assert 'You said: "I am Ada."' in printed
    assert (
        "[tool] get_weather({'city': 'Lyon, please.'})" in printed
        or "[tool] get_weather(" in printed
    )
    assert 'Tool get_weather returned: {"city":' in printed


async def test_the_server_picks_a_run_id_when_the_client_does_not(base_url: str):
    async with connect(
        base_url.replace("http://", "ws://") + "/v1/ws",
        subprotocols=["rhone.ws.v1"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {API_KEY}"},
    ) as raw:
        body = body_for("openai.chat", "hello")
        # `shape`, the field's first name, which rhone.ws.v1 keeps accepting.
        create = {"type": "run.create", "shape": "openai.chat", "body": body}
        await raw.send(orjson.dumps(create).decode())
        frames = []
        while not frames or frames[-1]["type"] not in ("run.completed", "run.failed", "error"):
            frames.append(orjson.loads(await asyncio.wait_for(raw.recv(), 30)))
    assert frames[-1]["type"] == "run.completed", frames[-1]
    assert frames[0]["surface"] == frames[0]["shape"] == "openai.chat"
    run_id = frames[0]["run_id"]
    assert run_id.startswith("run_") and {f["run_id"] for f in frames} == {run_id}
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))


async def test_another_tenants_run_is_not_found(base_url: str):
    async with await RhoneWsClient.connect(base_url, API_KEY) as ws:
        run = ws.runs.create("openai.chat", body_for("openai.chat", ASK))
        await until(run, "run.requires_action")
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        other = {"authorization": f"Bearer {OTHER_KEY}"}
        assert (await http.get(f"/v1/runs/{run.run_id}", headers=other)).status_code == 404
        events = await http.get(f"/v1/runs/{run.run_id}/events", headers=other)
        assert events.status_code == 404
    async with await RhoneWsClient.connect(base_url, OTHER_KEY) as ws:
        with pytest.raises(RhoneWsError) as hidden:
            await anext(ws.runs.attach(run.run_id))
        assert hidden.value.code == "run_not_found"
        stranger = ws.runs.attach(run.run_id)
        await stranger.cancel()
        with pytest.raises(RhoneWsError) as refused:
            await anext(stranger)
        assert refused.value.code == "run_not_found"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        mine = {"authorization": f"Bearer {API_KEY}"}
        assert (await http.get(f"/v1/runs/{run.run_id}", headers=mine)).json()["status"] == (
            "requires_action"
        )
