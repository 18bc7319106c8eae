"""The session a canonical call's usage record names (`rhone.canonical`, the gRPC API's
Generate): a first call's announced session exists only once the call finished (its turn is
committed before `finished` is passed on); a session the request named always exists."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rhone.errors import Code, make_failure
from rhone.pricing import PriceTable
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import tenancy_pb2 as tnpb
from services.facade.auth import Principal
from services.facade.metering import GRPC_SURFACE, EventTally, Metering

ANNOUNCED = "sess_announced"
STARTED = gen.GenerationEvent(started=gen.ResponseStarted(model="local", provider="local"))
FINISHED = gen.GenerationEvent(finished=gen.ResponseFinished())
FAILED = gen.GenerationEvent(
    failure=make_failure(Code.ERROR_CODE_NOT_FOUND, "no such model", detail="model_not_found")
)


class _Usage:
    def __init__(self) -> None:
        self.records: list[tnpb.UsageRecord] = []

    def add(self, record: tnpb.UsageRecord) -> None:
        self.records.append(record)


async def _record(
    events: list[gen.GenerationEvent], *, first_call: bool, ended: bool
) -> tnpb.UsageRecord:
    usage = _Usage()
    limiter: Any = SimpleNamespace(key=lambda *parts: ":".join(parts))
    metering = Metering(limiter, usage, PriceTable(), fail_open=True)  # type: ignore[arg-type]
    principal = Principal("t", "key_1", tnpb.ResolvedKey())
    meter = await metering.begin(principal, surface=GRPC_SURFACE, method="generate", size=10)
    tally = EventTally(first_call=first_call)
    for event in events:
        tally.feed(event)
    tally.settle(meter, ANNOUNCED, ended=ended)
    [record] = usage.records
    return record


@pytest.mark.parametrize(
    ("events", "first_call", "ended", "session", "status"),
    [
        ([STARTED, FINISHED], True, True, ANNOUNCED, tnpb.USAGE_STATUS_COMPLETED),
        ([STARTED, FAILED], True, True, "", tnpb.USAGE_STATUS_FAILED),
        ([STARTED], True, True, "", tnpb.USAGE_STATUS_FAILED),  # cut off
        ([STARTED], True, False, "", tnpb.USAGE_STATUS_CANCELLED),
        # Gone after `finished` (the turn committed), before the stream's last message.
        ([STARTED, FINISHED], True, False, ANNOUNCED, tnpb.USAGE_STATUS_CANCELLED),
        ([STARTED, FAILED], False, True, ANNOUNCED, tnpb.USAGE_STATUS_FAILED),
        ([STARTED], False, False, ANNOUNCED, tnpb.USAGE_STATUS_CANCELLED),
    ],
)
async def test_a_record_names_the_session_once_it_exists(
    events: list[gen.GenerationEvent],
    first_call: bool,
    ended: bool,
    session: str,
    status: int,
) -> None:
    record = await _record(events, first_call=first_call, ended=ended)
    assert (record.session_id, record.status) == (session, status)
