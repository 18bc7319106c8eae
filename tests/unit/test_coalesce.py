"""rhone/coalesce.py: what is ready together travels together, and nothing waits for company."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rhone.coalesce import coalesced


async def burst_then_trickle(log: list[str]) -> AsyncIterator[int]:
    """Three items at once (as one network read holds them), then one after a pause."""
    try:
        for item in (1, 2, 3):
            yield item
        await asyncio.sleep(0.05)
        yield 4
    finally:
        log.append("source closed")


async def test_items_ready_together_come_as_one_batch_and_a_late_one_alone():
    log: list[str] = []
    batches = [batch async for batch in coalesced(burst_then_trickle(log))]
    assert batches == [[1, 2, 3], [4]]
    assert log == ["source closed"]


async def test_the_first_item_is_never_held_back():
    release = asyncio.Event()

    async def slow_second() -> AsyncIterator[str]:
        yield "first"
        await release.wait()
        yield "second"

    batches = coalesced(slow_second())
    first = await asyncio.wait_for(anext(batches), 1)
    assert first == ["first"]
    release.set()
    assert await anext(batches) == ["second"]
    assert await anext(batches, None) is None


async def test_an_error_of_the_source_comes_after_what_it_produced():
    async def failing() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ValueError("upstream broke")

    received: list[int] = []
    with pytest.raises(ValueError, match="upstream broke"):
        async for batch in coalesced(failing()):
            received += batch
    assert received == [1, 2]


async def test_a_reader_that_stops_cancels_the_source():
    log: list[str] = []
    started = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
                started.set()
                await asyncio.sleep(0.01)
        finally:
            log.append("source closed")

    batches = coalesced(endless())
    assert await anext(batches)
    await started.wait()
    await batches.aclose()
    assert log == ["source closed"]


async def test_a_source_far_ahead_of_its_reader_waits_for_it():
    produced = 0

    async def eager() -> AsyncIterator[int]:
        nonlocal produced
        for n in range(100):
            produced += 1
            yield n

    batches = coalesced(eager(), max_batch=10)
    first = await anext(batches)
    await asyncio.sleep(0.02)  # the source runs on while the reader is away
    assert produced <= len(first) + 10
    rest = [item async for batch in batches for item in batch]
    assert first + rest == list(range(100))


async def test_cancelling_the_reader_cancels_the_source():
    log: list[str] = []

    async def hanging() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
            yield 2
        finally:
            log.append("source closed")

    async def read() -> list[list[int]]:
        return [batch async for batch in coalesced(hanging())]

    task = asyncio.ensure_future(read())
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["source closed"]
