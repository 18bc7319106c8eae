"""The run log writer: events stored in order, in batches while the store is busy, a store
error raised to the step, a bounded queue."""

from __future__ import annotations

import asyncio

import pytest

from services.facade.runs.log_writer import LogWriter


async def test_events_are_stored_in_order_in_batches_while_the_store_is_busy():
    stored: list[list[bytes]] = []
    gate = asyncio.Event()

    async def append(batch: list[bytes]) -> None:
        await gate.wait()  # the store answers when the test says so
        stored.append(batch)

    writer = LogWriter(append)
    for i in range(5):
        await writer.put(b"%d" % i)
    gate.set()
    await writer.drain()
    assert [e for batch in stored for e in batch] == [b"0", b"1", b"2", b"3", b"4"]
    assert len(stored) < 5  # the events queued behind the first batch went together
    await writer.close()


async def test_a_store_error_reaches_the_step():
    async def append(batch: list[bytes]) -> None:
        raise RuntimeError("store down")

    writer = LogWriter(append)
    await writer.put(b"a")
    with pytest.raises(RuntimeError, match="store down"):
        await writer.drain()
    with pytest.raises(RuntimeError, match="store down"):
        await writer.put(b"b")
    await writer.close()


async def test_a_fast_step_waits_for_a_slow_store():
    gate, started = asyncio.Event(), asyncio.Event()

    async def append(batch: list[bytes]) -> None:
        started.set()
        await gate.wait()

    writer = LogWriter(append, max_pending=2)
    await writer.put(b"1")
    await asyncio.wait_for(started.wait(), 5)  # the first batch is at the store
    await writer.put(b"2")
    await writer.put(b"3")
    blocked = asyncio.create_task(writer.put(b"4"))
    await asyncio.sleep(0)  # give it its chance to (wrongly) get through
    assert not blocked.done()
    gate.set()
    await asyncio.wait_for(blocked, 5)
    await writer.drain()
    await writer.close()
