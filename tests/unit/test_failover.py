"""Retries and failover happen only before the first event reaches the caller."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from rhone import canonical as ev
from rhone.errors import Code, make_failure
from rhone.v1 import generation_pb2 as gen
from services.providers.failover import backoff_s, generate_with_failover
from services.providers.routing import Deployment


class Scripted:
    """A connector answering from a script: each call takes the next list of events."""

    connector_name = "scripted"

    def __init__(self, *scripts: list[gen.GenerationEvent]) -> None:
        self.scripts = list(scripts)
        self.calls: list[str] = []

    async def stream(self, request, deployment) -> AsyncGenerator[gen.GenerationEvent, None]:
        self.calls.append(deployment.model)
        for event in self.scripts.pop(0):
            yield event


def ok(text: str) -> list[gen.GenerationEvent]:
    return [
        ev.started("r", "m", "scripted"),
        ev.part_started(0, gen.PART_KIND_TEXT),
        ev.text_delta(0, text),
        ev.part_finished(0),
        ev.finished(gen.FINISH_REASON_STOP),
    ]


def fail(code: int, status: int = 0) -> list[gen.GenerationEvent]:
    return [ev.failed(make_failure(code, "boom", http_status=status, retry_after_ms=1))]


async def run(connector: Scripted, deployments: list[Deployment]) -> list[gen.GenerationEvent]:
    stream = generate_with_failover(
        gen.GenerateRequest(),
        deployments,
        {"scripted": connector},
        max_attempts=2,
        max_backoff_s=0.01,
    )
    return [e async for e in stream]


A, B = Deployment("scripted", "a"), Deployment("scripted", "b")


async def test_rate_limited_first_deployment_fails_over_to_the_second():
    connector = Scripted(
        fail(Code.ERROR_CODE_RATE_LIMITED, 429), fail(Code.ERROR_CODE_RATE_LIMITED, 429), ok("hi")
    )
    events = await run(connector, [A, B])
    assert connector.calls == ["a", "a", "b"]
    assert [e.WhichOneof("event") for e in events] == [
        "started",
        "part_started",
        "part_delta",
        "part_finished",
        "finished",
    ]


async def test_non_retryable_failure_is_returned_at_once():
    connector = Scripted(fail(Code.ERROR_CODE_INVALID_REQUEST, 400), ok("never"))
    events = await run(connector, [A, B])
    assert connector.calls == ["a"]
    assert events[0].failure.http_status == 400


async def test_failure_after_the_first_event_is_not_retried():
    cut = [
        ev.started("r", "m", "scripted"),
        ev.failed(make_failure(Code.ERROR_CODE_UNAVAILABLE, "cut")),
    ]
    connector = Scripted(cut, ok("never"))
    events = await run(connector, [A, B])
    assert connector.calls == ["a"]
    assert [e.WhichOneof("event") for e in events] == ["started", "failure"]


async def test_all_attempts_failing_returns_the_last_failure():
    connector = Scripted(*[fail(Code.ERROR_CODE_OVERLOADED, 529)] * 4)
    events = await run(connector, [A, B])
    assert connector.calls == ["a", "a", "b", "b"]
    assert len(events) == 1 and events[0].failure.http_status == 529


def test_backoff_honours_a_short_retry_after_and_caps_long_ones():
    short = make_failure(Code.ERROR_CODE_RATE_LIMITED, "x")
    short.retry_after_ms = 1500
    assert backoff_s(1, short, cap_s=8) == 1.5
    long = make_failure(Code.ERROR_CODE_RATE_LIMITED, "x")
    long.retry_after_ms = 60_000
    assert backoff_s(1, long, cap_s=8) <= 0.25
    assert backoff_s(10, make_failure(Code.ERROR_CODE_INTERNAL, "x"), cap_s=8) <= 8
