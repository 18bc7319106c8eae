"""The run store on both backends: numbering without gaps, status-guarded changes, reads
after a sequence number, tenant isolation."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from services.sessions.run_store import (
    RunChanges,
    RunConflict,
    RunExists,
    RunNotFound,
    SqlRunStore,
    numbered,
)
from services.sessions.sql_store import SqlSessionStore


async def new_run(runs: SqlRunStore, run_id: str = "run_a", tenant: str = "t1"):
    return await runs.create_run(
        tenant,
        run_id,
        session_id="sess_x",
        surface="openai.chat",
        body_json='{"model":"local"}',
        max_steps=4,
        first_event=b'{"type":"run.created"}',
    )


def test_numbered_adds_seq_as_the_last_field():
    assert orjson.loads(numbered(b'{"type":"a"}', 7)) == {"type": "a", "seq": 7}
    assert orjson.loads(numbered(b"{}", 1)) == {"seq": 1}
    with pytest.raises(ValueError):
        numbered(b"[1]", 1)


async def test_events_are_numbered_in_order_and_read_after_a_number(store: SqlSessionStore):
    runs = SqlRunStore(store.db)
    run = await new_run(runs)
    assert (run.status, run.last_seq, run.steps) == ("running", 1, 0)
    run = await runs.append("t1", "run_a", [b'{"n":1}', b'{"n":2}'], RunChanges(steps=1))
    assert (run.last_seq, run.steps) == (3, 1)
    run, events = await runs.events_after("t1", "run_a", 1, 0)
    assert [e.seq for e in events] == [2, 3]
    assert [orjson.loads(e.event) for e in events] == [{"n": 1, "seq": 2}, {"n": 2, "seq": 3}]
    _, first = await runs.events_after("t1", "run_a", 0, 1)
    assert orjson.loads(first[0].event) == {"type": "run.created", "seq": 1}


async def test_concurrent_appends_never_share_a_number(store: SqlSessionStore):
    runs = SqlRunStore(store.db)
    await new_run(runs)
    await asyncio.gather(
        *(runs.append("t1", "run_a", [b'{"i":%d}' % i], RunChanges()) for i in range(20))
    )
    _, events = await runs.events_after("t1", "run_a", 0, 0)
    assert [e.seq for e in events] == list(range(1, 22))


async def test_status_guard_lets_one_of_two_racers_win(store: SqlSessionStore):
    runs = SqlRunStore(store.db)
    await new_run(runs)
    await runs.append("t1", "run_a", [], RunChanges(status="requires_action", deadline_ms=5))
    results = await asyncio.gather(
        runs.append("t1", "run_a", [b'{"r":1}'], RunChanges(status="running"), ["requires_action"]),
        runs.append(
            "t1", "run_a", [b'{"r":2}'], RunChanges(status="cancelled"), ["requires_action"]
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, RunConflict) for r in results) == 1
    run = await runs.get_run("t1", "run_a")
    assert run.last_seq == 2 and run.status in ("running", "cancelled")


async def test_ids_are_per_tenant(store: SqlSessionStore):
    runs = SqlRunStore(store.db)
    await new_run(runs)
    with pytest.raises(RunExists):
        await new_run(runs)
    with pytest.raises(RunNotFound):
        await runs.get_run("t2", "run_a")
    with pytest.raises(RunNotFound):
        await runs.append("t2", "run_a", [b"{}"], RunChanges())
    await new_run(runs, tenant="t2")  # another tenant may use the same id


async def test_a_transaction_cancelled_during_its_begin_leaves_none_open(store: SqlSessionStore):
    """A caller that goes away while its transaction starts (a cancelled gRPC call, as a run
    follower's read is when its socket closes) must not leave the connection in a transaction."""
    runs = SqlRunStore(store.db)
    await new_run(runs)
    for _ in range(5):
        reader = asyncio.create_task(runs.events_after("t1", "run_a", 0, 0))
        await asyncio.sleep(0)  # the reader is now waiting for its BEGIN
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    run = await runs.append("t1", "run_a", [b'{"after":"cancels"}'], RunChanges())
    assert run.last_seq == 2
