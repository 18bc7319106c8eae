"""The server side of lanes (docs/grpc.md, "Lanes"): every internal server serves
`rhone.v1.LaneService`, whose `Open` streams carry the server's own unary and
server-streaming calls one after another.

A call on a lane runs the handler registered for its method (through ObservedServer, so inside
the same guards and observability as a call of its own) with a LaneContext in place of the
gRPC servicer context, in a task of its own (its own contextvars: the call's scope and
deadline), and its answer goes back as `OpenResponse` messages, the last one with the call's
end. A lane is read again only once the call's end has been written, so one call at a time
has the lane, and the lane's HTTP/2 flow control is that call's.

Draining (SIGTERM): idle lanes end at once, busy ones after their call. A lane that ends
before writing anything of a call it was sent did not start that call; the client sends it
again on another lane."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import grpc

from rhone.observability import metrics
from rhone.runtime.service_identity import MISSING_IDENTITY, token_matches
from rhone.v1 import lanes_pb2, lanes_pb2_grpc

log = logging.getLogger("rhone.grpc")

# The details of the end of a call whose method is not served on lanes: the client makes it
# as a call of its own.
NOT_ON_LANES = "rhone-lanes: this method is not served on lanes"

LANE_SERVICE = "rhone.v1.LaneService"


def flatten(pairs: Iterable[tuple[str, Any]] | None) -> list[str]:
    """Metadata as OpenRequest.metadata carries it: [key, value, key, value, ...]."""
    flat: list[str] = []
    for key, value in pairs or ():
        flat.append(key)
        flat.append(value.decode() if isinstance(value, bytes) else value)
    return flat


def pairs_of(flat: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple(zip(flat[::2], flat[1::2], strict=True))


class LaneContext:
    """What a handler and its guards use of grpc.aio.ServicerContext, for a call on a lane."""

    __slots__ = (
        "_code",
        "_deadline",
        "_details",
        "_initial",
        "_lane",
        "_metadata",
        "_serialize",
        "_trailing",
    )

    def __init__(
        self,
        lane: grpc.aio.ServicerContext,
        metadata: tuple[tuple[str, str], ...],
        deadline: float | None,
    ) -> None:
        self._lane = lane
        self._metadata = metadata
        self._deadline = deadline
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: Sequence[tuple[str, Any]] = ()
        self._initial: list[str] | None = None
        self._serialize: Any = None  # the method's response serializer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def peer(self) -> str:
        return str(self._lane.peer())

    async def abort(
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._code = code
        self._details = details
        if trailing_metadata:
            self._trailing = trailing_metadata
        raise grpc.aio.AbortError()

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Sequence[tuple[str, Any]]) -> None:
        self._trailing = trailing_metadata

    def trailing_metadata(self) -> Sequence[tuple[str, Any]]:
        return self._trailing

    async def send_initial_metadata(self, initial_metadata: Sequence[tuple[str, Any]]) -> None:
        """Sent with the call's first message (or its end), as gRPC sends headers with the
        first message of a handler that streams."""
        self._initial = flatten(initial_metadata)

    async def write(self, message: Any) -> None:
        data = self._serialize(message) if self._serialize is not None else message
        await self._lane.write(self.reply(message=data))

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    def reply(
        self, *, message: bytes | None = None, end: lanes_pb2.LaneEnd | None = None
    ) -> lanes_pb2.OpenResponse:
        """A message of the call's answer for the lane, with the initial metadata not yet sent."""
        response = lanes_pb2.OpenResponse(message=message, end=end)
        if self._initial is not None:
            response.initial_metadata.extend(self._initial)
            self._initial = None
        return response

    def end(
        self, code: grpc.StatusCode | None = None, details: str | None = None
    ) -> lanes_pb2.LaneEnd:
        status = code or self._code or grpc.StatusCode.OK
        return lanes_pb2.LaneEnd(
            code=status.value[0],
            details=self._details if details is None else details,
            trailing_metadata=flatten(self._trailing),
        )


class LaneServer(lanes_pb2_grpc.LaneServiceServicer):
    """`LaneService` for one server: the handlers it runs on lanes (added as the server's
    services are registered) and the lanes that are open."""

    def __init__(self, service: str, token: str | None = None) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._open_lanes = metrics.GRPC_LANES.labels(service)
        self._token = token
        self._idle: set[asyncio.Task[Any]] = set()
        self._draining = False

    def add(self, method: str, handler: grpc.RpcMethodHandler) -> None:
        """Serves `method` on lanes, when it is unary or server-streaming."""
        if handler.unary_unary is not None or handler.unary_stream is not None:
            self.handlers[method] = handler

    def register(self, server: grpc.aio.Server) -> None:
        lanes_pb2_grpc.add_LaneServiceServicer_to_server(self, server)

    def drain(self) -> None:
        """Ends the idle lanes now and every other one after its call; no call starts on a
        lane from now on."""
        self._draining = True
        for task in list(self._idle):
            task.cancel()

    async def Open(
        self,
        request_iterator: AsyncIterator[lanes_pb2.OpenRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        if self._token and not token_matches(self._token, context.invocation_metadata()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, MISSING_IDENTITY)
        self._open_lanes.inc()
        try:
            await self._carry(context)
        finally:
            self._open_lanes.dec()

    async def _carry(self, context: grpc.aio.ServicerContext) -> None:
        """The lane's calls, one after another, until the client ends it or a drain does."""
        task = asyncio.current_task()
        assert task is not None
        while not self._draining:
            self._idle.add(task)
            try:
                request = await context.read()
            except asyncio.CancelledError:
                if self._draining:
                    return  # ended by the drain, idle: a clean end the client sees as EOF
                raise
            finally:
                self._idle.discard(task)
            if request is grpc.aio.EOF:
                return
            # A task of its own: the call's scope and deadline are its own, and a lane that is
            # cancelled cancels the call it is waiting on.
            await asyncio.ensure_future(self._serve(request, context))

    async def _serve(self, request: lanes_pb2.OpenRequest, lane: grpc.aio.ServicerContext) -> None:
        handler = self.handlers.get(request.method)
        metadata = pairs_of(request.metadata)
        deadline = time.monotonic() + request.timeout_s if request.timeout_s > 0 else None
        context = LaneContext(lane, metadata, deadline)
        if handler is None:
            end = context.end(grpc.StatusCode.UNIMPLEMENTED, NOT_ON_LANES)
            await lane.write(lanes_pb2.OpenResponse(end=end))
            return
        bound = asyncio.timeout(None if deadline is None else _loop_time(deadline))
        try:
            async with bound:
                reply = await self._run(handler, request.request, context)
        except grpc.aio.AbortError:
            reply = context.reply(end=context.end())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and bound.expired():
                end = context.end(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            else:  # what grpc.aio answers for a handler that raised
                log.exception("a call on a lane (%s) failed", request.method)
                end = context.end(
                    grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc).__name__}: {exc}"
                )
            reply = context.reply(end=end)
        await lane.write(reply)

    @staticmethod
    async def _run(
        handler: grpc.RpcMethodHandler, data: bytes, context: LaneContext
    ) -> lanes_pb2.OpenResponse:
        """Runs the handler; the message that ends its call (with a unary's answer)."""
        deserialize = handler.request_deserializer
        request = deserialize(data) if deserialize is not None else data
        serialize = context._serialize = handler.response_serializer
        if handler.unary_unary is not None:
            response = await handler.unary_unary(request, context)
            message = serialize(response) if serialize is not None else response
            return context.reply(message=message, end=context.end())
        streamed = handler.unary_stream(request, context)
        if inspect.isasyncgen(streamed):
            async for response in streamed:
                await context.write(response)
        else:  # a handler that writes with context.write()
            await streamed
        return context.reply(end=context.end())


def _loop_time(deadline: float) -> float:
    """A time.monotonic() deadline on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())
