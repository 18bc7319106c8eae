"""Writing a socket's queued frames together.

Each event of a streamed call is a WebSocket message of its own (docs/rhone-ws-v1.md). Through
ASGI each message is one `websocket.send`: Starlette's checks, the middleware, uvicorn's send,
and a write to the socket of its own, about 5 µs a message, a fifth of the facade's CPU on a
socket call (docs/performance.md). When uvicorn serves the socket with its websockets
(sans-I/O) protocol, the frames queued together are encoded by that protocol's connection and
written to its transport in one write, as its own send does one at a time, after the same
checks (flow control, a closed socket). Any other server goes through ASGI, a frame at a
time."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

_SCOPE_KEY = "rhone.ws_protocol"
# What the writer uses of uvicorn's protocol (uvicorn is pinned by the lock files; a version
# whose protocol lacks one of these is written to through ASGI).
_USED = ("writable", "disconnected", "close_sent", "conn", "transport")


def remember_protocol(scope: MutableMapping[str, Any], send: Any) -> None:
    """Keeps the socket's uvicorn protocol in its scope, when `send` is its own."""
    owner = getattr(send, "__self__", None)
    if isinstance(owner, WebSocketsSansIOProtocol) and all(hasattr(owner, a) for a in _USED):
        scope[_SCOPE_KEY] = owner


class FrameWriter:
    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, websocket: WebSocket) -> FrameWriter | None:
        protocol = websocket.scope.get(_SCOPE_KEY)
        return cls(protocol) if protocol is not None else None

    async def write(self, texts: Sequence[str]) -> None:
        """Text messages, in order, in one write; ConnectionError when the socket is closed."""
        protocol = self._protocol
        await protocol.writable.wait()
        if protocol.disconnected or protocol.close_sent or protocol.transport.is_closing():
            raise ConnectionError("the socket is closed")
        connection = protocol.conn
        for text in texts:
            connection.send_text(text.encode())
        protocol.transport.write(b"".join(connection.data_to_send()))
