"""The limits' Lua scripts sent to Redis pipelined, on one connection of their own.

The script calls made in one turn of the event loop go out as one batch (one write, one wakeup
for all the replies), and a batch is written at once, without waiting for the replies to the
batches before it: Redis answers in order, so each batch reads its replies after the previous
batch has read its own. Under load, admitting calls and settling the calls that just ended
share round trips; alone, a call waits one round trip, as it would anyway. redis-py's client
takes a pooled connection under an async lock, goes through several wrapper layers and, with a
socket timeout, runs asyncio.wait_for (a task) for every command: more CPU than the round trip
itself. This uses its connection, command packing and (hiredis) reply parser only.

A script Redis has forgotten (a restart, SCRIPT FLUSH) is loaded again and its calls sent once
more. Any other failure of a batch (timeout, connection refused or lost) fails every call in it
and drops the connection: the batches already written on it fail too, and the next one
connects afresh."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, ResponseError


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
    reloaded: bool = False


class ScriptBatches:
    def __init__(self, client: aioredis.Redis, timeout_s: float) -> None:
        self._client = client
        self._timeout = timeout_s
        self._pending: list[_Call] = []
        self._collecting = False
        self._batches: set[asyncio.Task[None]] = set()
        # Set once the last batch written has read its replies (or failed).
        self._read: asyncio.Future[None] | None = None
        self._connection: AbstractConnection | None = None
        self._connecting: asyncio.Future[AbstractConnection] | None = None

    def submit(self, script: Script, keys: list[str], args: list[str | int]) -> asyncio.Future[Any]:
        """The script's reply to come; RedisError, OSError or TimeoutError when Redis fails,
        within the timeout."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(_Call(script, keys, args, future))
        return future

    async def close(self) -> None:
        """Sends what is pending, waits for the replies, then closes the connection."""
        while self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        await self._drop_connection()

    def _enqueue(self, call: _Call) -> None:
        self._pending.append(call)
        if not self._collecting:
            self._collecting = True
            batch = asyncio.create_task(self._batch())
            self._batches.add(batch)
            batch.add_done_callback(self._batches.discard)

    async def _batch(self) -> None:
        # Runs on the loop's next turn: every call made in this one is in the batch.
        batch, self._pending, self._collecting = self._pending, [], False
        previous = self._read
        read = self._read = asyncio.get_running_loop().create_future()
        try:
            replies = await self._exchange(batch, previous)
        except BaseException as exc:
            await self._drop_connection()
            failure = exc if isinstance(exc, Exception) else ConnectionError(repr(exc))
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            read.set_result(None)
        forgotten = [
            call
            for call, reply in zip(batch, replies, strict=True)
            if isinstance(reply, NoScriptError) and not call.reloaded
        ]
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done() or call in forgotten:
                continue
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)
        if forgotten:
            await self._reload(forgotten)

    async def _exchange(
        self, batch: list[_Call], previous: asyncio.Future[None] | None
    ) -> list[Any]:
        async with asyncio.timeout(self._timeout):
            connection = self._connection
            if connection is None:
                connection = await self._connect()
            packed = connection.pack_commands(
                [
                    ("EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args)
                    for call in batch
                ]
            )
            await connection.send_packed_command(packed, check_health=False)
            if previous is not None:
                await asyncio.shield(previous)
            if connection is not self._connection:
                raise ConnectionError("the connection was lost before the replies were read")
            replies: list[Any] = []
            for _ in batch:
                try:
                    replies.append(await connection.read_response())
                except ResponseError as exc:
                    replies.append(exc)
            return replies

    async def _connect(self) -> AbstractConnection:
        if self._connecting is None:
            pool = self._client.connection_pool
            # No per-command timeout: each batch's own covers it (redis-py's costs a task).
            settings = {**pool.connection_kwargs, "socket_timeout": None}
            connection = pool.connection_class(**settings)
            self._connecting = asyncio.get_running_loop().create_future()
            try:
                await connection.connect()
            except BaseException as exc:
                self._connecting.set_exception(
                    exc if isinstance(exc, Exception) else ConnectionError(repr(exc))
                )
                self._connecting.exception()  # read: every waiter gets it from its own await
                self._connecting = None
                raise
            self._connection = connection
            self._connecting.set_result(connection)
            self._connecting = None
            return connection
        return await asyncio.shield(self._connecting)

    async def _reload(self, forgotten: list[_Call]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                for script in {call.script for call in forgotten}:
                    await self._client.script_load(script.source)
        except Exception as exc:
            for call in forgotten:
                if not call.future.done():
                    call.future.set_exception(exc)
            return
        for call in forgotten:
            call.reloaded = True
            self._enqueue(call)

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)
