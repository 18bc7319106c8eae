"""Usage records, written off the hot path: a call adds its record to a buffer; a background
task sends the buffer to the sessions service in one RecordUsage every RHONE_USAGE_FLUSH_S
(or sooner when it fills). A failed send keeps the records for the next one (records carry
ids, so a batch sent twice counts once). A clean shutdown flushes what is left."""

from __future__ import annotations

import asyncio
import logging

import grpc

from rhone.v1 import tenancy_pb2 as tpb
from rhone.v1 import tenancy_pb2_grpc

log = logging.getLogger("rhone.facade.usage")

BATCH = 500
MAX_BUFFERED = 100_000


class UsageWriter:
    def __init__(self, tenancy: tenancy_pb2_grpc.TenancyServiceStub, flush_s: float) -> None:
        self._tenancy = tenancy
        self._flush_s = flush_s
        self._buffer: list[tpb.UsageRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, record: tpb.UsageRecord) -> None:
        self._buffer.append(record)
        if len(self._buffer) > MAX_BUFFERED:
            dropped = len(self._buffer) - MAX_BUFFERED
            del self._buffer[:dropped]
            log.error("usage buffer full (sessions unreachable?): %d record(s) dropped", dropped)
        if len(self._buffer) >= BATCH:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._flush_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Sends everything buffered; False when the sessions service did not take it."""
        while self._buffer:
            batch = self._buffer[:BATCH]
            try:
                await self._tenancy.RecordUsage(tpb.RecordUsageRequest(records=batch), timeout=10)
            except grpc.aio.AioRpcError as exc:
                log.warning("usage records not written yet (%s); will retry", exc.code())
                return False
            del self._buffer[: len(batch)]
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if not await self.flush():
            log.error("usage records lost at shutdown: %d", len(self._buffer))
