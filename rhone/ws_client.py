"""A small asyncio client for rhone.ws.v1, Rhone's native WebSocket protocol
(docs/rhone-ws-v1.md): calls on any surface, and runs that survive a dropped connection.

Calls::

    async with await RhoneWsClient.connect("http://127.0.0.1:8080", api_key) as ws:
        session_id = await ws.bind_session()  # a new session; bind_session(id) continues one
        async for event in ws.create("openai.chat", {"model": "local", "messages": [...]}):
            ...  # exactly the chunk objects of the HTTP stream, as dicts

Each surface's events are the objects its HTTP stream carries: `chat.completion.chunk`s,
Anthropic and Responses stream events, Gemini/Vertex `GenerateContentResponse` chunks. Calls
may run concurrently; calls on one session run one after the other.

Runs (a model call, tools, the next call, ... until an answer)::

    run = ws.runs.create("gemini.generate_content", {"model": "local", "contents": [...],
                                                      "tools": [...]})
    async for frame in run:
        if frame["type"] == "run.event":
            ...  # frame["event"]: one event of the surface, as in a call
        elif frame["type"] == "run.requires_action":
            await run.submit_tool_outputs(
                [{"tool_call_id": c["id"], "output": my_tool(c)} for c in frame["tool_calls"]]
            )
    # the stream ends after run.completed, run.failed or run.cancelled; run.status says which

After a dropped connection, a new client resumes where the old one stopped, on any replica::

    run = new_ws.runs.attach(run.run_id, after=run.last_seq)

One reader task routes frames to the call or run they belong to. When the connection closes,
every open stream raises RhoneWsClosed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SUBPROTOCOL = "rhone.ws.v1"
SURFACES = (
    "openai.chat",
    "openai.responses",
    "anthropic.messages",
    "gemini.generate_content",
    "vertex.generate_content",
    "rhone.canonical",
)
RUN_ENDS = ("run.completed", "run.failed", "run.cancelled")
_CLOSED: dict[str, Any] = {"type": "\x00closed"}


class RhoneWsError(Exception):
    """A call ended with call.error, or the server answered a frame with error."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message') or frame.get('error')}")
        self.frame = frame
        self.code: str = frame.get("code", "")
        self.status: int = frame.get("status", 0)
        self.error: Any = frame.get("error")


class RhoneWsClosed(Exception):
    """The connection closed before the call or the run's stream ended on this socket (a
    run goes on: attach to it from a new connection)."""


class CallStream:
    """The events of one call; `session_id` is known once the stream has ended."""

    def __init__(self, client: RhoneWsClient, call_id: str) -> None:
        self.client = client
        self.call_id = call_id
        self.session_id: str | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                frame = await self._queue.get()
                kind = frame["type"]
                if kind == "call.event":
                    yield frame["event"]
                elif kind == "call.done":
                    self.session_id = frame.get("session_id")
                    return
                elif kind == "call.cancelled":
                    return
                elif frame is _CLOSED:
                    raise RhoneWsClosed(f"the connection closed during call {self.call_id}")
                else:
                    raise RhoneWsError(frame)
        finally:
            self.client._calls.pop(self.call_id, None)

    async def cancel(self) -> None:
        await self.client._send({"type": "call.cancel", "call_id": self.call_id})


class RunStream:
    """The frames of one run on this socket, in order: run.created, run.step, run.event,
    run.requires_action, ..., and one of run.completed / run.failed / run.cancelled, after
    which iteration stops. An `error` frame about the run (a refused submit, an unknown run)
    raises RhoneWsError from the iteration; iterating again goes on with the next frame.

    `last_seq` is the sequence number of the last frame read: give it to `runs.attach` to
    resume on another connection."""

    def __init__(self, client: RhoneWsClient, run_id: str | None, after: int = 0) -> None:
        self.client = client
        self.run_id = run_id
        self.last_seq = after
        self.status = ""
        self.session_id: str | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def __aiter__(self) -> RunStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.status in ("completed", "failed", "cancelled"):
            raise StopAsyncIteration
        frame = await self._queue.get()
        if frame is _CLOSED:
            raise RhoneWsClosed(f"the connection closed while following run {self.run_id}")
        kind = frame["type"]
        if kind == "error":
            raise RhoneWsError(frame)
        if frame.get("seq", 0) <= self.last_seq:
            return await self.__anext__()  # an event seen before a re-attach on this socket
        self.last_seq = frame["seq"]
        if kind == "run.created":
            self.session_id = frame.get("session_id")
        elif kind == "run.requires_action":
            self.status = "requires_action"
        elif kind == "run.step":
            self.status = "running"
        elif kind in RUN_ENDS:
            self.status = kind.removeprefix("run.")
        return frame

    async def submit_tool_outputs(self, outputs: list[dict[str, Any]]) -> None:
        """Answers run.requires_action: one {"tool_call_id", "output"} per tool call."""
        await self.client._send(
            {"type": "run.submit_tool_outputs", "run_id": self.run_id, "tool_outputs": outputs}
        )

    async def cancel(self) -> None:
        await self.client._send({"type": "run.cancel", "run_id": self.run_id})


class Runs:
    """`client.runs`: start runs and attach to them."""

    def __init__(self, client: RhoneWsClient) -> None:
        self._client = client

    def create(
        self,
        surface: str,
        body: dict[str, Any],
        *,
        run_id: str | None = None,
        max_steps: int | None = None,
    ) -> RunStream:
        """Starts a run; iterate the returned stream for its frames. Without a run_id the
        client picks one (the protocol also lets the server pick: see the docs)."""
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {SURFACES}")
        run_id = run_id or "run_" + secrets.token_hex(12)
        stream = self._client._open_run(run_id, 0)
        frame: dict[str, Any] = {"type": "run.create", "run_id": run_id, "surface": surface}
        frame["body"] = body
        if max_steps is not None:
            frame["max_steps"] = max_steps
        self._client._send_soon(frame)
        return stream

    def attach(self, run_id: str, after: int = 0) -> RunStream:
        """Follows a run from the event after `after`: each missed event once, in order."""
        stream = self._client._open_run(run_id, after)
        self._client._send_soon({"type": "run.attach", "run_id": run_id, "after": after})
        return stream


class RhoneWsClient:
    def __init__(self, connection: ClientConnection) -> None:
        self._conn = connection
        self._calls: dict[str, CallStream] = {}
        self._runs: dict[str, RunStream] = {}
        self._waiters: list[asyncio.Future[dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self.runs = Runs(self)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base_url: str, api_key: str, **options: Any) -> RhoneWsClient:
        """Opens `/v1/ws` at the facade's base URL (http:// or https://) with a bearer key;
        `options` go to websockets' connect()."""
        url = base_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        connection = await connect(
            url + "/v1/ws",
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {api_key}"},
            **options,
        )
        return cls(connection)

    async def __aenter__(self) -> RhoneWsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def bind_session(self, session_id: str | None = None) -> str:
        """Binds the socket to a session (None: a new one); returns its id."""
        waiter = self._wait()
        await self._send({"type": "session.bind", "session_id": session_id})
        frame = await waiter
        return str(frame["session_id"])

    def create(self, surface: str, body: dict[str, Any], call_id: str | None = None) -> CallStream:
        """Starts a call; iterate the returned stream for its events."""
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {SURFACES}")
        call_id = call_id or f"call-{next(self._ids)}"
        stream = CallStream(self, call_id)
        self._calls[call_id] = stream
        frame = {"type": "call.create", "call_id": call_id, "surface": surface, "body": body}
        self._send_soon(frame)
        return stream

    async def call(self, surface: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Runs a call to its end; its events."""
        return [event async for event in self.create(surface, body)]

    async def ping(self, data: Any = None) -> Any:
        waiter = self._wait()
        await self._send({"type": "ping", "data": data})
        return (await waiter).get("data")

    async def close(self) -> None:
        await self._conn.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    def _open_run(self, run_id: str, after: int) -> RunStream:
        stream = RunStream(self, run_id, after)
        self._runs[run_id] = stream
        return stream

    def _wait(self) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    async def _send(self, frame: dict[str, Any]) -> None:
        await self._conn.send(orjson.dumps(frame).decode())

    def _send_soon(self, frame: dict[str, Any]) -> None:
        """Sends from a task, so that create() needs no await; frames keep their order."""
        asyncio.get_running_loop().create_task(self._send(frame))

    async def _read(self) -> None:
        try:
            async for message in self._conn:
                frame = orjson.loads(message)
                call = self._calls.get(frame.get("call_id", ""))
                run = self._runs.get(frame.get("run_id", ""))
                if call is not None:
                    await call._queue.put(frame)
                elif run is not None:
                    await run._queue.put(frame)
                elif frame.get("type") in ("session.bound", "pong", "error") and self._waiters:
                    waiter = self._waiters.pop(0)
                    if frame["type"] == "error":
                        waiter.set_exception(RhoneWsError(frame))
                    else:
                        waiter.set_result(frame)
        except ConnectionClosed:
            pass
        finally:
            for call in self._calls.values():
                call._queue.put_nowait(_CLOSED)
            for run in self._runs.values():
                run._queue.put_nowait(_CLOSED)
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(RhoneWsClosed("the connection closed"))
