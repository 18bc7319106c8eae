"""From a scenario to a transmission plan: the bytes to send, when, and how the body ends.

Each provider fake supplies a ``Wire`` (its encodings of a reply, an error, a keep-alive); the
plan logic here is shared, so "cut after two chunks" or "hang" means the same on every fake.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypeAlias

import orjson

from tests.fakes.scenarios import (
    CutMidStream,
    Error,
    Garbage,
    Hang,
    HtmlError,
    RejectKey,
    Scenario,
    SlowFirstByte,
    StreamError,
    Text,
    ToolCall,
    as_reply,
)


@dataclass(frozen=True)
class Frame:
    """Bytes written in one ``send``; ``content`` marks text/thinking/tool-argument frames."""

    data: bytes
    content: bool = False


@dataclass(frozen=True)
class Pause:
    """Wait between frames (still noticing a client that leaves)."""

    seconds: float


Step: TypeAlias = Frame | Pause
Ending: TypeAlias = Literal["complete", "abort", "hang"]


@dataclass(frozen=True)
class Plan:
    """One HTTP response as the fake will transmit it.

    ``delay_s`` is spent before the status line (``math.inf``: until the client leaves).
    ``ending``: ``complete`` finishes the body, ``abort`` drops the connection, ``hang`` repeats
    ``keepalive`` every ``keepalive_interval_s`` until the client leaves.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    delay_s: float = 0.0
    ending: Ending = "complete"
    keepalive: bytes = b""
    keepalive_interval_s: float = 0.05


class Wire(Protocol):
    """One provider surface's encodings, bound to the request being answered."""

    def success_headers(self, streaming: bool) -> dict[str, str]: ...

    def body(self, reply: Text) -> bytes: ...

    def stream(self, reply: Text) -> list[Frame]: ...

    def stream_error(
        self, status: int, message: str | None, sent: tuple[Step, ...]
    ) -> list[Frame]: ...

    def hang_preamble(self) -> list[Frame]: ...

    def keepalive(self) -> bytes: ...

    def error(self, failure: Error) -> Plan: ...


def plan_for(scenario: Scenario, wire: Wire, streaming: bool) -> Plan:
    """The transmission plan for ``scenario`` on ``wire``."""
    if isinstance(scenario, Text | ToolCall):
        return _reply_plan(as_reply(scenario), wire, streaming)
    if isinstance(scenario, Error):
        return wire.error(scenario)
    if isinstance(scenario, SlowFirstByte):
        inner = plan_for(scenario.then, wire, streaming)
        return replace(inner, delay_s=inner.delay_s + scenario.delay_s)
    if isinstance(scenario, CutMidStream):
        inner = plan_for(scenario.then, wire, streaming)
        steps = _cut(inner.steps, scenario.after_chunks, streaming)
        return replace(inner, steps=steps, ending="abort" if scenario.abort else "complete")
    if isinstance(scenario, StreamError):
        if not streaming:
            return wire.error(Error(scenario.status, message=scenario.message))
        inner = plan_for(scenario.then, wire, streaming)
        sent = _cut(inner.steps, scenario.after_chunks, True)
        tail = tuple(wire.stream_error(scenario.status, scenario.message, sent))
        return replace(inner, steps=sent + tail)
    if isinstance(scenario, Hang):
        if not streaming or scenario.before_headers:
            return Plan(delay_s=math.inf)
        return Plan(
            headers=wire.success_headers(True),
            steps=tuple(wire.hang_preamble()) if scenario.preamble else (),
            ending="hang",
            keepalive=wire.keepalive(),
            keepalive_interval_s=scenario.interval_s,
        )
    if isinstance(scenario, Garbage):
        inner = plan_for(scenario.then, wire, streaming)
        if not streaming:
            headers = {**inner.headers, "content-type": "application/json"}
            return Plan(headers=headers, steps=(Frame(scenario.data),))
        after = scenario.after_chunks
        sent = () if after is None else _cut(inner.steps, after, True)
        return replace(inner, steps=(*sent, Frame(scenario.data)))
    if isinstance(scenario, HtmlError):
        headers = {"content-type": "text/html; charset=utf-8"}
        return Plan(status=scenario.status, headers=headers, steps=(Frame(scenario.page.encode()),))
    if isinstance(scenario, RejectKey):
        raise TypeError("RejectKey needs the request: use FakeServer.next_scenario(recorded)")
    raise TypeError(f"not a scenario: {scenario!r}")


def failure_body(failure: Error, envelope: Callable[[], object]) -> bytes:
    """The scripted body (a dict as JSON, str/bytes as they are), else the provider's
    ``envelope()`` as JSON."""
    body = failure.body
    if body is None:
        return orjson.dumps(envelope())
    if isinstance(body, dict):
        return orjson.dumps(body)
    return body.encode() if isinstance(body, str) else body


def _reply_plan(reply: Text, wire: Wire, streaming: bool) -> Plan:
    if not streaming:
        return Plan(headers=wire.success_headers(False), steps=(Frame(wire.body(reply)),))
    steps: list[Step] = []
    for frame in wire.stream(reply):
        if frame.content and reply.chunk_delay_s > 0:
            steps.append(Pause(reply.chunk_delay_s))
        steps.append(frame)
    return Plan(headers=wire.success_headers(True), steps=tuple(steps))


def _cut(steps: tuple[Step, ...], after_chunks: int, streaming: bool) -> tuple[Step, ...]:
    """Steps up to and including the ``after_chunks``-th content frame.

    A non-stream body is one frame: keep its first half, so the JSON cannot parse.
    """
    if not streaming:
        frames = [s for s in steps if isinstance(s, Frame)]
        data = b"".join(f.data for f in frames)
        return (Frame(data[: len(data) // 2]),)
    kept: list[Step] = []
    seen = 0
    for step in steps:
        is_content = isinstance(step, Frame) and step.content
        if is_content and seen == after_chunks:
            break  # after_chunks=0: keep the preamble, stop before the first content frame
        kept.append(step)
        if is_content:
            seen += 1
            if seen == after_chunks:
                break
    return tuple(kept)
