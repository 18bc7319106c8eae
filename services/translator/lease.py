"""A call's hold on its session: the lease `BeginTurn` took, renewed every third of its time
(`RenewLease`) from the moment it is taken until the turn is committed or the lease given back.

The whole time counts, not only the stream's: fitting the context (counting its size, and a
compaction whose summary is a model call of its own) runs between `BeginTurn` and the
generation, and may take longer than a lease (RHONE_SESSION_LEASE_MS); the session stays this
call's throughout, and a second call gets `409 session_busy` as it would mid-stream."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from rhone.runtime import deadlines
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc

log = logging.getLogger("rhone.translator.lease")


class LeaseKeeper:
    """Renews a held lease in the background until `stop`; never past the call's deadline (a
    call cannot outlive it, and a lease left renewing would keep its session busy for good).
    `lost` is the sessions service's refusal when a renewal finds the lease taken over (the
    session deleted, or a database outage longer than the lease): the call then stops,
    recording nothing."""

    def __init__(
        self,
        sessions: sessions_pb2_grpc.SessionServiceStub,
        *,
        tenant_id: str,
        session_id: str,
        lease_id: str,
        lease_ms: int,
    ) -> None:
        self.sessions = sessions
        self.lost: grpc.aio.AioRpcError | None = None
        self._request = spb.RenewLeaseRequest(
            tenant_id=tenant_id, session_id=session_id, lease_id=lease_id, lease_ms=lease_ms
        )
        remaining = deadlines.remaining()
        self._until = None if remaining is None else time.monotonic() + remaining
        self._task: asyncio.Future[None] | None = (
            asyncio.ensure_future(self._keep()) if lease_id and lease_ms > 0 else None
        )

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _keep(self) -> None:
        """A failed renewal is retried at the next tick (two more before the lease runs out)."""
        interval_s = self._request.lease_ms / 3000
        while True:
            await asyncio.sleep(interval_s)
            if self._until is not None and time.monotonic() > self._until:
                return
            try:
                await self.sessions.RenewLease(self._request, timeout=interval_s)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                    self.lost = exc
                    return
                log.warning(
                    "could not renew the lease on %s: %s", self._request.session_id, exc.code()
                )
