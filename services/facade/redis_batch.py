"""The limits' Lua scripts sent to Redis in batches on one connection of their own.

Every script call made while a batch is on the wire goes out in the next one, pipelined (one
write, one wakeup for all the replies). Under load, admitting a call and settling the calls
that just ended share round trips; alone, a call waits one round trip, as it would anyway.
redis-py's client takes a pooled connection under an async lock and goes through several
wrapper layers for every command, which cost more CPU than the round trip itself; this uses
its connection, command packing and reply parser only. A script Redis has forgotten (a
restart, SCRIPT FLUSH) is loaded again and its calls sent once more.

Any failure of a batch (timeout, connection refused or lost) fails every call in it and drops
the connection: the next batch connects afresh."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError

# The most calls one round trip carries; the rest go in the next.
MAX_BATCH = 64


class Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


@dataclass(slots=True)
class _Call:
    script: Script
    keys: list[str]
    args: list[str | int]
    future: asyncio.Future[Any]


class ScriptBatches:
    def __init__(self, client: aioredis.Redis, timeout_s: float) -> None:
        self._client = client
        self._timeout = timeout_s
        self._pending: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self._connection: AbstractConnection | None = None

    def submit(self, script: Script, keys: list[str], args: list[str | int]) -> asyncio.Future[Any]:
        """The script's reply to come; RedisError, OSError or TimeoutError when Redis fails.
        Never waits longer than the batch's timeout (and the one before it)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Call(script, keys, args, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return future

    async def close(self) -> None:
        """Sends what is pending, then closes the connection."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._connection is not None:
            await self._connection.disconnect()
            self._connection = None

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                try:
                    await self._send(batch, reload=True)
                except BaseException as exc:
                    await self._drop_connection()
                    for call in batch:
                        if not call.future.done():
                            call.future.set_exception(
                                exc if isinstance(exc, Exception) else ConnectionError(repr(exc))
                            )
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._flusher = None

    async def _send(self, batch: list[_Call], *, reload: bool) -> None:
        connection = self._connection
        if connection is None:
            pool = self._client.connection_pool
            # No per-read timeout: the batch's own covers it (redis-py's costs a task per send).
            settings = {**pool.connection_kwargs, "socket_timeout": None}
            connection = self._connection = pool.connection_class(**settings)
        packed = connection.pack_commands(
            [("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args) for call in batch]
        )
        replies: list[Any] = []
        async with asyncio.timeout(self._timeout):
            await connection.send_packed_command(packed, check_health=False)
            for _ in batch:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:
                    replies.append(exc)
        forgotten = [
            call
            for call, reply in zip(batch, replies, strict=True)
            if isinstance(reply, NoScriptError)
        ]
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done() or (reload and isinstance(reply, NoScriptError)):
                continue
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)
        if forgotten:
            async with asyncio.timeout(self._timeout):
                for script in {call.script for call in forgotten}:
                    await self._client.script_load(script.source)
            await self._send(forgotten, reload=False)

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)
