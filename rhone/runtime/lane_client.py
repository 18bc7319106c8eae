"""The client side of lanes (docs/grpc.md, "Lanes"): a channel's unary and server-streaming
calls to Rhone's own services, each carried on a lane, a long-lived `LaneService.Open` stream
that carries one call at a time, instead of a gRPC call of its own (which costs about three
times as much CPU on both ends: bench/grpc_floor.py).

A call takes an idle lane (the one used last) or opens one, writes its request and reads its
answer up to its end; then the lane is idle again. What a call of its own has, a call on a lane
keeps:
- its metadata (the service token, the call's ids and trace context) and its deadline, sent with
  its request; the deadline is kept here as well: the lane is cancelled when it passes;
- cancelling the call cancels its lane (the server's handler is cancelled, as for a call);
- flow control: one call at a time has a lane's HTTP/2 stream;
- the channel's policy (rhone/runtime/channels.py): calls to the sessions service wait for it
  up to 5 s; a call to the translator or providers that failed UNAVAILABLE before any answer is
  tried again, on a new lane, up to 4 attempts; a call whose lane ended before any answer (the
  server drained) was not started, and is sent again;
- balancing and connection age: lanes are opened on the channel (round_robin puts each new one
  on the next pod) and take no call after LANE_MAX_AGE_S at most, so a new pod gets its share
  of calls within it;
- a server without LaneService (an older replica during a rolling upgrade): its calls are made
  as calls, and lanes tried again after PLAIN_FOR_S."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from rhone.runtime.lane_server import NOT_ON_LANES, flatten, pairs_of
from rhone.v1 import lanes_pb2

OPEN_METHOD = "/rhone.v1.LaneService/Open"
# A lane takes no call after this long open (each lane a random part of it, from half to
# all, so that a channel's lanes do not end together): new lanes go round the pods, so a
# new pod gets its share of calls within this, and a lane carries hundreds of calls under
# load, so opening the next one costs little (bench/grpc_floor.py, `lanes`).
LANE_MAX_AGE_S = 10.0
# An idle lane unused for this long is closed.
LANE_IDLE_S = 10.0
# After a server answered that it has no LaneService, calls are calls for this long.
PLAIN_FOR_S = 60.0
# Requests larger than this go as calls of their own (a lane's message has its request inside).
LANE_MAX_REQUEST_BYTES = 16 * 1024 * 1024
# How many lanes in a row may end before a call's request was read (servers draining).
_MAX_DRAINED = 8

_CODES = {status.value[0]: status for status in grpc.StatusCode}
_EMPTY = grpc.aio.Metadata()


@dataclass(frozen=True, slots=True)
class LanePolicy:
    """What the channel's service config says of a method's calls."""

    wait_for_ready: bool = False
    timeout_s: float | None = None  # when the caller gives none
    attempts: int = 1  # for UNAVAILABLE before any answer
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    backoff_multiplier: float = 3.0

    def backoff(self, attempt: int) -> float:
        bound = min(self.initial_backoff_s * self.backoff_multiplier**attempt, self.max_backoff_s)
        return random.uniform(0, bound)


def policies(
    service_config: dict[str, Any], default_timeouts: dict[str, float]
) -> Callable[[str], LanePolicy]:
    """Each method's LanePolicy from a gRPC service config (its methodConfig by service) and
    the deadlines of calls whose callers name none, by service."""
    by_service: dict[str, LanePolicy] = {}
    for config in service_config.get("methodConfig", ()):
        retry = config.get("retryPolicy") or {}
        service = config["name"][0]["service"]
        policy = LanePolicy(
            wait_for_ready=bool(config.get("waitForReady", False)),
            timeout_s=default_timeouts.get(service),
            attempts=int(retry.get("maxAttempts", 1)),
            initial_backoff_s=float(retry.get("initialBackoff", "0.05s").rstrip("s")),
            max_backoff_s=float(retry.get("maxBackoff", "1s").rstrip("s")),
            backoff_multiplier=float(retry.get("backoffMultiplier", 3)),
        )
        for name in config.get("name", ()):
            by_service[name["service"]] = policy
    default = LanePolicy()

    def policy_of(method: str) -> LanePolicy:
        return by_service.get(method.lstrip("/").partition("/")[0], default)

    return policy_of


_REQUEST_TAG = bytes([4 << 3 | 2])  # OpenRequest.request: field 4, length-delimited


def opening_bytes(method: str, metadata: list[str], timeout_s: float, request: bytes) -> bytes:
    """An OpenRequest's wire bytes: its other fields serialized, then its request appended as
    field 4 (a message's fields may come in any order on the wire). A request of hundreds of
    KiB (a long session's context) is not copied into a message and serialized again."""
    head = lanes_pb2.OpenRequest(method=method, metadata=metadata, timeout_s=timeout_s)
    size = len(request)
    length = bytearray()
    while size > 0x7F:
        length.append(size & 0x7F | 0x80)
        size >>= 7
    length.append(size)
    return b"".join((head.SerializeToString(), _REQUEST_TAG, length, request))


class _Lane:
    __slots__ = ("call", "retire_at", "used", "wait_for_ready")

    def __init__(self, call: grpc.aio.StreamStreamCall, wait_for_ready: bool) -> None:
        self.call = call
        self.wait_for_ready = wait_for_ready
        self.used = time.monotonic()
        self.retire_at = self.used + LANE_MAX_AGE_S * random.uniform(0.5, 1.0)


class Lanes:
    """The lanes of one channel: the idle ones, newest first."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: tuple[tuple[str, str], ...],
        policy_of: Callable[[str], LanePolicy],
    ) -> None:
        # Requests are written as their wire bytes (opening_bytes).
        self._open = channel.stream_stream(
            OPEN_METHOD, response_deserializer=lanes_pb2.OpenResponse.FromString
        )
        self._metadata = metadata or None
        self.policy_of = policy_of
        self._idle: dict[bool, list[_Lane]] = {False: [], True: []}
        self._plain_until = 0.0
        self._not_on_lanes: set[str] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Future[None]] = set()

    def carries(self, method: str) -> bool:
        return method not in self._not_on_lanes and time.monotonic() >= self._plain_until

    def idle(self) -> int:
        return sum(len(lanes) for lanes in self._idle.values())

    def take(self, wait_for_ready: bool) -> _Lane:
        """The idle lane used last, or a new one."""
        idle = self._idle[wait_for_ready]
        while idle:
            lane = idle.pop()
            if not lane.call.done():
                return lane
        call = self._open(metadata=self._metadata, wait_for_ready=wait_for_ready)
        return _Lane(call, wait_for_ready)

    def give(self, lane: _Lane) -> None:
        """A lane whose call has ended: idle again, or closed when it is old."""
        now = time.monotonic()
        if now >= lane.retire_at or lane.call.done():
            self.close(lane)
            return
        lane.used = now
        self._idle[lane.wait_for_ready].append(lane)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(LANE_IDLE_S, self._close_unused)

    def close(self, lane: _Lane) -> None:
        """Ends a lane no call is on: the server sees its end, not a cancelled call."""
        closing = asyncio.ensure_future(_done_writing(lane.call))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def plain_for_a_while(self) -> None:
        self._plain_until = time.monotonic() + PLAIN_FOR_S

    def not_on_lanes(self, method: str) -> None:
        self._not_on_lanes.add(method)

    def _close_unused(self) -> None:
        self._sweep = None
        now = time.monotonic()
        for idle in self._idle.values():
            unused = [lane for lane in idle if now - lane.used >= LANE_IDLE_S]
            if unused:
                idle[:] = [lane for lane in idle if now - lane.used < LANE_IDLE_S]
                for lane in unused:
                    self.close(lane)
        if self.idle():
            self._sweep = asyncio.get_running_loop().call_later(LANE_IDLE_S, self._close_unused)


async def _ending(
    call: grpc.aio.StreamStreamCall, exc: Exception
) -> tuple[grpc.StatusCode, str, grpc.aio.Metadata]:
    """How a lane that failed a write or read ended: its status as the server sent it when
    that is a refusal (UNIMPLEMENTED) or a clean end (OK), else the error as raised."""
    if call.done():
        code = await call.code()
        if code in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.OK):
            return code, str(await call.details() or ""), _EMPTY
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code(), exc.details() or "", exc.trailing_metadata() or _EMPTY
    return grpc.StatusCode.UNAVAILABLE, "The lane ended.", _EMPTY


async def _done_writing(call: grpc.aio.StreamStreamCall) -> None:
    try:
        await call.done_writing()
    except (Exception, asyncio.CancelledError):  # the channel closed under it: it is gone
        pass


class LaneMethod:
    """A channel's multicallable for one method whose calls go on lanes; `plain` makes a call
    of its own where a lane cannot carry it."""

    __slots__ = ("deserialize", "lanes", "method", "plain", "policy", "serialize")

    def __init__(
        self,
        lanes: Lanes,
        method: str,
        plain: Any,
        *,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
    ) -> None:
        self.lanes = lanes
        self.method = method
        self.plain = plain
        self.serialize = request_serializer
        self.deserialize = response_deserializer
        self.policy = lanes.policy_of(method)

    def __call__(
        self,
        request: Any,
        *,
        metadata: Sequence[tuple[str, Any]] | None = None,
        timeout: float | None = None,
        **options: Any,
    ) -> Any:
        # The default deadline is the channel's to add (PropagatingChannel), as for calls.
        data = None
        if (
            not (options.get("credentials") or options.get("compression"))
            and self.lanes.carries(self.method)
            and not any(isinstance(value, bytes) for _, value in metadata or ())
        ):
            data = self.serialize(request) if self.serialize is not None else request
        if data is None or len(data) > LANE_MAX_REQUEST_BYTES:
            return self.plain(request, metadata=metadata, timeout=timeout, **options)
        wait = options.get("wait_for_ready")
        opening = opening_bytes(self.method, flatten(metadata), timeout or 0.0, data)

        def plain(remaining: float | None) -> Any:
            return self.plain(request, metadata=metadata, timeout=remaining, **options)

        return LaneCall(
            self,
            opening,
            timeout,
            self.policy.wait_for_ready if wait is None else bool(wait),
            plain,
        )


# A LaneCall's state.
_NEW, _STARTING, _RUNNING, _DONE = range(4)


class LaneCall:
    """One call on a lane, with what callers use of a grpc.aio call: awaited (unary) or read
    (server-streaming), its metadata, status, cancel() and done callbacks."""

    def __init__(
        self,
        method: LaneMethod,
        opening: bytes,
        timeout: float | None,
        wait_for_ready: bool,
        plain: Callable[[float | None], Any],
    ) -> None:
        self._method = method
        self._opening = opening
        self._wait_for_ready = wait_for_ready
        self._make_plain = plain
        self._plain: Any = None
        self._state = _NEW
        self._started: asyncio.Future[None] | None = None
        self._lane: _Lane | None = None
        self._messages: collections.deque[bytes] = collections.deque()
        self._response: Any = None
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._initial: grpc.aio.Metadata | None = None
        self._trailing: grpc.aio.Metadata = _EMPTY
        self._callbacks: list[Callable[[Any], None]] = []
        self._expired = False
        self._cancelled = False
        # The task waiting on the lane, and whether this call interrupted it (cancelled it: a
        # lane cancelled before its stream started leaves a write waiting for good).
        self._waiter: asyncio.Task[Any] | None = None
        self._woken = False
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._timer: asyncio.TimerHandle | None = None  # set when the call starts

    # -- what a grpc.aio call offers --------------------------------------------------------

    def __await__(self) -> Generator[Any, None, Any]:
        return self._unary().__await__()

    async def read(self) -> Any:
        await self._start()
        if self._plain is not None:
            return await self._plain.read()
        return await self._next()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def initial_metadata(self) -> grpc.aio.Metadata:
        await self._start()
        if self._plain is not None:
            return await self._plain.initial_metadata()
        return self._initial if self._initial is not None else _EMPTY

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        await self._ended()
        if self._plain is not None:
            return await self._plain.trailing_metadata()
        return self._trailing

    async def code(self) -> grpc.StatusCode:
        await self._ended()
        if self._plain is not None:
            return await self._plain.code()
        assert self._code is not None
        return self._code

    async def details(self) -> str:
        await self._ended()
        if self._plain is not None:
            return str(await self._plain.details())
        return self._details

    def cancel(self) -> bool:
        if self._plain is not None:
            return bool(self._plain.cancel())
        if self._state == _DONE:
            return False
        self._cancelled = True
        self._lose_lane()
        self._finish(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")
        self._wake()
        return True

    def cancelled(self) -> bool:
        if self._plain is not None:
            return bool(self._plain.cancelled())
        return self._code == grpc.StatusCode.CANCELLED

    def done(self) -> bool:
        if self._plain is not None:
            return bool(self._plain.done())
        return self._state == _DONE

    def time_remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - time.monotonic(), 0.0)

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        if self._plain is not None:
            self._plain.add_done_callback(lambda _: callback(self))
        elif self._state == _DONE:
            callback(self)
        else:
            self._callbacks.append(callback)

    # -- the call ---------------------------------------------------------------------------

    async def _unary(self) -> Any:
        await self._start()
        if self._plain is not None:
            return await self._plain
        if self._response is None:
            message = await self._next()
            if message is grpc.aio.EOF:
                raise self._fail(grpc.StatusCode.INTERNAL, "No response on the lane.")
            self._response = message
        return self._response

    async def _iterate(self) -> AsyncIterator[Any]:
        while (message := await self.read()) is not grpc.aio.EOF:
            yield message

    async def _start(self) -> None:
        """Sends the request and reads the first part of the answer (once)."""
        if self._state != _NEW:
            if self._state == _STARTING:
                assert self._started is not None
                await asyncio.shield(self._started)
            return
        self._state = _STARTING
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        remaining = self.time_remaining()
        if remaining is not None:
            self._timer = loop.call_later(remaining, self._expire)
        try:
            await self._send()
        except BaseException as exc:
            self._started.set_exception(exc)
            self._started.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            self._started.set_result(None)
        finally:
            if self._state == _STARTING:
                self._state = _RUNNING

    async def _send(self) -> None:
        lanes = self._method.lanes
        policy = self._method.policy
        attempt = drained = 0
        while True:
            self._check_status()
            lane = lanes.take(self._wait_for_ready)
            self._lane = lane
            self._waiter = asyncio.current_task()
            try:
                try:
                    await lane.call.write(self._opening)
                except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:
                    # Nothing of the call was sent: it goes as a call of its own (the lane
                    # may have lost a race with its refusal: "Internal error from Core").
                    await self._lane_ended(lane, exc)
                    self._go_plain()
                    return
                reply = await lane.call.read()
            except asyncio.CancelledError:
                self._lose_lane()
                self._raise_if_expired()
                self._cancel_from_caller()
                raise
            except grpc.aio.AioRpcError as exc:
                # The lane ended before any of the call's answer: how it ended says whether
                # the call may go again.
                code, details, trailing = await self._lane_ended(lane, exc)
                if code == grpc.StatusCode.UNIMPLEMENTED:
                    self._go_plain()
                    return
                if code == grpc.StatusCode.UNAVAILABLE and attempt + 1 < policy.attempts:
                    await self._pause(policy.backoff(attempt))
                    attempt += 1
                    continue
                self._trailing = trailing
                raise self._fail(code, details) from None
            finally:
                self._waiter = None
            if reply is grpc.aio.EOF:  # the server drained the lane before reading the call
                self._lose_lane()
                drained += 1
                if drained > _MAX_DRAINED:
                    raise self._fail(grpc.StatusCode.UNAVAILABLE, "Lanes kept ending.")
                continue
            if (
                reply.end.details == NOT_ON_LANES
                and not reply.HasField("message")
                and reply.end.code == grpc.StatusCode.UNIMPLEMENTED.value[0]
            ):
                lanes.give(lane)
                self._lane = None
                lanes.not_on_lanes(self._method.method)
                self._go_plain()
                return
            self._take(reply)
            return

    async def _lane_ended(
        self, lane: _Lane, exc: Exception
    ) -> tuple[grpc.StatusCode, str, grpc.aio.Metadata]:
        """The lane failed before any of the call's answer: given up, and how it ended. A
        server without lanes (UNIMPLEMENTED) gets calls of their own for a while."""
        ending = await _ending(lane.call, exc)
        self._lose_lane()
        self._raise_if_expired()
        if ending[0] == grpc.StatusCode.UNIMPLEMENTED:
            self._method.lanes.plain_for_a_while()
        return ending

    async def _pause(self, seconds: float) -> None:
        remaining = self.time_remaining()
        self._waiter = asyncio.current_task()
        try:
            await asyncio.sleep(seconds if remaining is None else min(seconds, remaining))
        except asyncio.CancelledError:
            self._raise_if_expired()
            self._cancel_from_caller()
            raise
        finally:
            self._waiter = None
        self._check_status()

    async def _next(self) -> Any:
        """The next message of the answer, or EOF after an OK end."""
        while True:
            if self._messages:
                data = self._messages.popleft()
                deserialize = self._method.deserialize
                return deserialize(data) if deserialize is not None else data
            self._check_status()
            if self._state == _DONE:
                return grpc.aio.EOF
            self._take(await self._read_reply())

    async def _ended(self) -> None:
        """Until the call's end: what is left of the answer is kept for read()."""
        await self._start()
        while self._plain is None and self._state != _DONE:
            self._take(await self._read_reply())

    async def _read_reply(self) -> lanes_pb2.OpenResponse:
        lane = self._lane
        if lane is None:
            self._check_status()
            raise self._fail(grpc.StatusCode.INTERNAL, "The call has no lane.")
        self._waiter = asyncio.current_task()
        try:
            reply = await lane.call.read()
        except asyncio.CancelledError:
            self._lose_lane()
            self._raise_if_expired()
            self._cancel_from_caller()
            raise
        except grpc.aio.AioRpcError as exc:
            self._lose_lane()
            self._raise_if_expired()
            raise self._fail_with(exc) from None
        finally:
            self._waiter = None
        if reply is grpc.aio.EOF:
            self._lose_lane()
            raise self._fail(grpc.StatusCode.UNAVAILABLE, "The lane ended during the call.")
        assert isinstance(reply, lanes_pb2.OpenResponse)
        return reply

    def _take(self, reply: lanes_pb2.OpenResponse) -> None:
        if reply.initial_metadata:
            self._initial = grpc.aio.Metadata(*pairs_of(reply.initial_metadata))
        if reply.HasField("message"):
            self._messages.append(reply.message)
        if reply.HasField("end"):
            end = reply.end
            if self._lane is not None:
                self._method.lanes.give(self._lane)
                self._lane = None
            self._trailing = (
                grpc.aio.Metadata(*pairs_of(end.trailing_metadata))
                if end.trailing_metadata
                else _EMPTY
            )
            self._finish(_CODES.get(end.code, grpc.StatusCode.UNKNOWN), end.details)

    def _go_plain(self) -> None:
        """The call goes as a call of its own, with what is left of its deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._plain = self._make_plain(self.time_remaining())
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._plain.add_done_callback(lambda _, callback=callback: callback(self))

    # -- endings ----------------------------------------------------------------------------

    def _finish(self, code: grpc.StatusCode, details: str) -> None:
        if self._state == _DONE:
            return
        self._state = _DONE
        self._code = code
        self._details = details
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def _error(self) -> grpc.aio.AioRpcError:
        assert self._code is not None
        return grpc.aio.AioRpcError(
            self._code, self._initial or _EMPTY, self._trailing, self._details, None
        )

    def _fail(self, code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
        self._finish(code, details)
        return self._error()

    def _fail_with(self, exc: grpc.aio.AioRpcError) -> grpc.aio.AioRpcError:
        self._trailing = exc.trailing_metadata() or _EMPTY
        return self._fail(exc.code(), exc.details() or "")

    def _check_status(self) -> None:
        """Raises what a call that has ended other than OK raises."""
        if self._state != _DONE or self._code == grpc.StatusCode.OK:
            return
        if self._cancelled:
            raise asyncio.CancelledError()
        raise self._error()

    def _expire(self) -> None:
        self._timer = None
        if self._state == _DONE or self._plain is not None:
            return
        self._expired = True
        self._lose_lane()
        self._finish(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        self._wake()

    def _wake(self) -> None:
        """Interrupts the task waiting on the lane (the call has ended under it)."""
        waiter = self._waiter
        if waiter is not None and waiter is not asyncio.current_task():
            self._woken = True
            waiter.cancel()

    def _raise_if_expired(self) -> None:
        """After a wait on the lane was interrupted: the deadline's error, unless the caller's
        own task is being cancelled (then, as after cancel(), CancelledError)."""
        task = asyncio.current_task()
        if self._woken and task is not None:
            self._woken = False
            task.uncancel()  # the cancel was this call's, not the caller's
        if self._expired and not (task is not None and task.cancelling()):
            raise self._error()

    def _cancel_from_caller(self) -> None:
        if self._state != _DONE:
            self._cancelled = True
            self._finish(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")

    def _lose_lane(self) -> None:
        """The lane cannot carry another call: cancelled (the server's handler with it)."""
        lane, self._lane = self._lane, None
        if lane is not None:
            lane.call.cancel()
