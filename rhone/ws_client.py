"""A small asyncio client for rhone.ws.v1 (docs/rhone-ws-v1.md).

    async with await RhoneWsClient.connect("http://127.0.0.1:8080", api_key) as ws:
        session_id = await ws.bind_session()
        async for event in ws.create("openai.chat", {"model": "local", "messages": [...]}):
            ...  # exactly the chunk objects of the HTTP stream, as dicts

One reader task routes frames to the call they belong to; calls may run concurrently."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

SUBPROTOCOL = "rhone.ws.v1"
SHAPES = (
    "openai.chat",
    "openai.responses",
    "anthropic.messages",
    "gemini.generate_content",
    "vertex.generate_content",
    "rhone.canonical",
)


class RhoneWsError(Exception):
    """A call ended with call.error, or the server answered a frame with error."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message') or frame.get('error')}")
        self.frame = frame
        self.code: str = frame.get("code", "")
        self.status: int = frame.get("status", 0)
        self.error: Any = frame.get("error")


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
                else:
                    raise RhoneWsError(frame)
        finally:
            self.client._calls.pop(self.call_id, None)

    async def cancel(self) -> None:
        await self.client._send({"type": "call.cancel", "call_id": self.call_id})


class RhoneWsClient:
    def __init__(self, connection: ClientConnection) -> None:
        self._conn = connection
        self._calls: dict[str, CallStream] = {}
        self._waiters: list[asyncio.Future[dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base_url: str, api_key: str, **options: Any) -> RhoneWsClient:
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
        waiter = self._wait()
        await self._send({"type": "session.bind", "session_id": session_id})
        frame = await waiter
        return str(frame["session_id"])

    def create(self, shape: str, body: dict[str, Any], call_id: str | None = None) -> CallStream:
        """Starts a call; iterate the returned stream for its events."""
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}")
        call_id = call_id or f"call-{next(self._ids)}"
        stream = CallStream(self, call_id)
        self._calls[call_id] = stream
        frame = {"type": "call.create", "call_id": call_id, "shape": shape, "body": body}
        asyncio.get_running_loop().create_task(self._send(frame))
        return stream

    async def ping(self, data: Any = None) -> Any:
        waiter = self._wait()
        await self._send({"type": "ping", "data": data})
        return (await waiter).get("data")

    async def close(self) -> None:
        await self._conn.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    def _wait(self) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    async def _send(self, frame: dict[str, Any]) -> None:
        await self._conn.send(orjson.dumps(frame).decode())

    async def _read(self) -> None:
        async for message in self._conn:
            frame = orjson.loads(message)
            call = self._calls.get(frame.get("call_id", ""))
            if call is not None:
                await call._queue.put(frame)
            elif frame.get("type") in ("session.bound", "pong", "error") and self._waiters:
                waiter = self._waiters.pop(0)
                if frame["type"] == "error":
                    waiter.set_exception(RhoneWsError(frame))
                else:
                    waiter.set_result(frame)
