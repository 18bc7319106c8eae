"""The shared machinery of every fake upstream: a real HTTP server on a free port, a script of
scenarios, a record of requests, and disconnect tracking.

Each fake runs a Starlette app under uvicorn in a background thread, so any client (an SDK,
the gateway's pooled httpx client, another process) talks to it over a real socket: timeouts,
aborted connections and cancellations behave as they do against the provider.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.plans import Frame, Pause, Plan, Wire, plan_for
from tests.fakes.scenarios import Scenario, Text, echoing

_STARTUP_DEADLINE_S = 10.0
_SHUTDOWN_DEADLINE_S = 5.0
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes


class AbortConnection(Exception):
    """Raised inside the app to make uvicorn drop the socket mid-body (CutMidStream)."""


class _QuietAbort(logging.Filter):
    """Keep the deliberate aborts out of the logs; every other server error still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, AbortConnection)


logging.getLogger("uvicorn.error").addFilter(_QuietAbort())


class FakeServer:
    """Base of the provider fakes. Subclasses supply ``routes()``.

    Use as a context manager (or ``start()``/``stop()``); script replies with
    ``script(*scenarios)`` (FIFO; an empty script answers ``default``); inspect ``requests``,
    ``last_request``, ``disconnects``, ``disconnected`` and ``sent_bytes``.
    """

    def __init__(self, *, default: Scenario | None = None) -> None:
        self.default: Scenario = default if default is not None else Text()
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        self._script: deque[Scenario] = deque()
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._sent_bytes = 0
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def unknown_route(self, recorded: RecordedRequest) -> Plan:
        """The answer to a path no route matches; subclasses use their provider's 404."""
        body = orjson.dumps({"error": f"no route for {recorded.method} {recorded.path}"})
        return Plan(status=404, headers={"content-type": "application/json"}, steps=(Frame(body),))

    def start(self) -> Self:
        """Bind a free 127.0.0.1 port, serve from a daemon thread, return once accepting."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted sockets on Linux: without it Nagle + delayed ACK add ~40 ms
        # to every small response write.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        # Unmatched requests are recorded too: a wrong path is the commonest integration bug.
        fallback = Route("/{path:path}", self._unmatched, methods=_ALL_METHODS)
        app = Starlette(routes=[*self.routes(), fallback])
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="off", loop="asyncio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"{type(self).__name__}:{self._port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _STARTUP_DEADLINE_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{type(self).__name__} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving; open streams (a ``Hang``) are dropped, not waited for."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(_SHUTDOWN_DEADLINE_S)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, without a version prefix (add ``/v1`` for OpenAI)."""
        if not self._port:
            raise RuntimeError("fake not started")
        return f"http://127.0.0.1:{self._port}"

    # -- script and record -----------------------------------------------------------------

    def script(self, *scenarios: Scenario) -> Self:
        """Queue the answers to the next calls, first in first out."""
        with self._lock:
            self._script.extend(scenarios)
        return self

    def reset(self) -> None:
        """Forget the script, the requests, the disconnects and the id counter."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._disconnects = 0
            self._sent_bytes = 0
            self._ids = itertools.count(1)
        self.disconnected.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("no request received")
            return self._requests[-1]

    @property
    def disconnects(self) -> int:
        """How many clients left before their response was complete."""
        with self._lock:
            return self._disconnects

    @property
    def sent_bytes(self) -> int:
        """Response body bytes handed to the server so far: a reader that stops reading stops
        it growing once the socket's buffers are full (uvicorn waits for the transport)."""
        with self._lock:
            return self._sent_bytes

    @property
    def pending(self) -> int:
        """Scripted scenarios not yet consumed."""
        with self._lock:
            return len(self._script)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until ``count`` requests have arrived (polling with a deadline)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.requests)} of {count} requests arrived")
            time.sleep(0.005)
        return self.requests

    # -- helpers for subclasses ------------------------------------------------------------

    def next_scenario(self, recorded: RecordedRequest | None = None) -> Scenario:
        """The next scripted answer (``recorded``: the request it answers, for scenarios that
        echo what the request carried)."""
        with self._lock:
            scenario = self._script.popleft() if self._script else self.default
        return echoing(scenario, recorded.headers) if recorded is not None else scenario

    def new_id(self, prefix: str) -> str:
        """Deterministic ids (``prefix`` + counter) so recorded streams are reproducible."""
        with self._lock:
            n = next(self._ids)
        return f"{prefix}{n:024x}"

    async def record(self, request: Request) -> RecordedRequest:
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            raw_body=raw,
        )
        with self._lock:
            self._requests.append(recorded)
        return recorded

    async def _unmatched(self, request: Request) -> Response:
        return self.send_plan(self.unknown_route(await self.record(request)))

    def respond(self, scenario: Scenario, wire: Wire, streaming: bool) -> Response:
        """Answer with ``scenario`` rendered on ``wire``."""
        return self.send_plan(plan_for(scenario, wire, streaming))

    def send_plan(self, plan: Plan) -> Response:
        return PlanResponse(plan, self._note_disconnect, self._note_sent)

    def _note_sent(self, size: int) -> None:
        with self._lock:
            self._sent_bytes += size

    def _note_disconnect(self) -> None:
        with self._lock:
            self._disconnects += 1
        self.disconnected.set()


class _DisconnectWatch:
    """Reads ``receive`` in the background: uvicorn reports a vanished client only there
    (``send`` to a gone client returns silently)."""

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()
        self.finished = False
        self._task = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self.finished:  # after the last byte, uvicorn says "disconnect" too
                    self.gone.set()
                return

    async def left_during(self, seconds: float) -> bool:
        """Wait ``seconds`` (``inf``: forever); True as soon as the client leaves."""
        timeout = None if math.isinf(seconds) else seconds
        try:
            await asyncio.wait_for(self.gone.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self._task.cancel()


class PlanResponse(Response):
    """Transmits a ``Plan`` step by step, watching for the client leaving at every step.

    A Starlette ``Response`` only so endpoints type-check; ``__call__`` ignores its body and
    headers and sends the plan's.
    """

    def __init__(
        self, plan: Plan, on_disconnect: Callable[[], None], on_sent: Callable[[int], None]
    ) -> None:
        super().__init__(status_code=plan.status)
        self.plan = plan
        self.on_disconnect = on_disconnect
        self.on_sent = on_sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = _DisconnectWatch(receive)
        try:
            await self._transmit(watch, send)
        finally:
            watch.close()
            if watch.gone.is_set():
                self.on_disconnect()

    async def _transmit(self, watch: _DisconnectWatch, send: Send) -> None:
        plan = self.plan
        if plan.delay_s and await watch.left_during(plan.delay_s):
            return
        headers = [(k.lower().encode(), v.encode()) for k, v in plan.headers.items()]
        await send({"type": "http.response.start", "status": plan.status, "headers": headers})
        for step in plan.steps:
            if isinstance(step, Pause):
                if await watch.left_during(step.seconds):
                    return
                continue
            await send({"type": "http.response.body", "body": step.data, "more_body": True})
            self.on_sent(len(step.data))
            if watch.gone.is_set():
                return
        if plan.ending == "abort":
            raise AbortConnection("scripted CutMidStream")
        if plan.ending == "hang":
            while not await watch.left_during(plan.keepalive_interval_s):
                await send(
                    {"type": "http.response.body", "body": plan.keepalive, "more_body": True}
                )
            return
        watch.finished = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def sse(event: str | None, payload: object) -> bytes:
    """One LF-framed SSE frame: optional ``event:`` line, one ``data:`` line, blank line."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    head = b"event: " + event.encode() + b"\n" if event is not None else b""
    return head + b"data: " + data + b"\n\n"
