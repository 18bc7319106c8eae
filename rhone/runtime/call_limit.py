"""A bound on the calls one gRPC server runs at once.

Beyond the bound a call is refused at once with RESOURCE_EXHAUSTED (the edge answers a 503 in
the surface's shape, which every SDK retries), so that a burst cannot grow the process's memory
without end. Health and reflection calls are never refused: an overloaded pod must still answer
its probes, or Kubernetes would restart it for being busy."""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

log = logging.getLogger("rhone.calls")

EXEMPT_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


class CallLimiter(grpc.aio.ServerInterceptor):
    def __init__(self, service: str, limit: int) -> None:
        self.service = service
        self.limit = limit
        self.in_flight = 0
        self._serial = itertools.count(1)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(EXEMPT_PREFIXES):
            return handler
        if handler.unary_stream is not None:
            return handler._replace(unary_stream=self._bound_stream(handler.unary_stream, method))  # type: ignore[attr-defined, no-any-return]
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._bound_unary(handler.unary_unary, method))  # type: ignore[attr-defined, no-any-return]
        return handler

    async def _admit(self, context: grpc.aio.ServicerContext, method: str) -> int:
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

    def _leave(self, serial: int) -> None:
        self.in_flight -= 1
        log.debug("call #%d ended", serial)

    def _bound_unary(self, behavior: Any, method: str) -> Any:
        async def bounded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            serial = await self._admit(context, method)
            try:
                return await behavior(request, context)
            finally:
                self._leave(serial)

        return bounded

    def _bound_stream(self, behavior: Any, method: str) -> Any:
        if not inspect.isasyncgenfunction(behavior):
            # A handler that writes with context.write() and returns: bound it like a unary.
            return self._bound_unary(behavior, method)

        async def bounded(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            serial = await self._admit(context, method)
            try:
                async for item in behavior(request, context):
                    yield item
            finally:
                self._leave(serial)

        return bounded
