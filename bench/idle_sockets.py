"""Memory of idle rhone.ws.v1 sockets: the facade's resident memory with N sockets open and
idle, against before they opened."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import ClientConnection, connect

from bench import cpu
from rhone.ws_client import SUBPROTOCOL


async def idle_socket_bytes(base_url: str, key: str, facade_pid: int, count: int) -> float:
    url = base_url.replace("http://", "ws://", 1) + "/v1/ws"
    headers = {"Authorization": f"Bearer {key}"}
    before = cpu.rss_bytes([facade_pid])
    sockets: list[ClientConnection] = []
    try:
        for start in range(0, count, 50):
            sockets += await asyncio.gather(
                *(
                    connect(url, subprotocols=[SUBPROTOCOL], additional_headers=headers)  # type: ignore[list-item]
                    for _ in range(min(50, count - start))
                )
            )
        await asyncio.sleep(1)
        for ws in sockets[:10]:
            await ws.ping()
        return (cpu.rss_bytes([facade_pid]) - before) / max(len(sockets), 1)
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
