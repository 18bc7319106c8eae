"""A bound on the calls one gRPC server runs at once.

Beyond the bound a call is refused at once with RESOURCE_EXHAUSTED (the edge answers a 503 in
the surface's shape, which every SDK retries), so that a burst cannot grow the process's memory
without end. Health and reflection calls are never refused: an overloaded pod must still answer
its probes, or Kubernetes would restart it for being busy."""

from __future__ import annotations

import itertools
import logging

import grpc

log = logging.getLogger("rhone.calls")

EXEMPT_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


class CallLimiter:
    """A guard (rhone/runtime/handler_guards.py) on every method but health and reflection."""

    def __init__(self, service: str, limit: int) -> None:
        self.service = service
        self.limit = limit
        self.in_flight = 0
        self._serial = itertools.count(1)

    def applies(self, method: str) -> bool:
        return not method.startswith(EXEMPT_PREFIXES)

    async def enter(self, context: grpc.aio.ServicerContext, method: str) -> int:
        """Takes a slot, or refuses the call; returns the call's serial number."""
        if self.in_flight >= self.limit:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.service} is at its limit of {self.limit} concurrent calls; retry shortly.",
            )
        self.in_flight += 1
        serial = next(self._serial)
        # Which replica serves which call, and for how long, at DEBUG (the multi-replica test
        # reads these to find a replica with a stream in flight).
        log.debug("call #%d %s (%d in flight)", serial, method, self.in_flight)
        return serial

    def leave(
        self, entered: object, context: grpc.aio.ServicerContext, exc: BaseException | None
    ) -> None:
        self.in_flight -= 1
        log.debug("call #%d ended", entered)
