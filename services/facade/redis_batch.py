"""The limits' Lua scripts sent to Redis pipelined, on one connection of their own.

The script calls made in one turn of the event loop go out as one write, at once, whatever
is still awaiting its replies: Redis answers in order, and each reply resolves the oldest
waiting call. Under load, admitting calls and settling the calls that just ended share
writes and wakeups; alone, a call waits one round trip, as it would anyway. The wire format
is hiredis's (packing and parsing, in C) on a plain asyncio protocol: redis-py's client takes
a pooled connection under an async lock and goes through several layers per command, which
cost more CPU than the round trip itself.

A script Redis has forgotten (a restart, SCRIPT FLUSH) is loaded again and its call sent once
more. A batch with no reply within the timeout, or a connection refused or lost, fails every
call waiting on that connection and drops it; the next call connects afresh."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis


class ScriptError(Exception):
    """Redis answered a command with an error (a script that failed, a refused AUTH)."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where RHONE_REDIS_URL points: `redis://[user:password@]host[:port][/db]`, `rediss://`
    (TLS) or `unix:///path/to.sock[?db=N]`. (redis-py's own parser would import all of
    redis-py into the facade for it: several MiB of memory per replica.)"""

    host: str = "localhost"
    port: int = 6379
    path: str = ""
    db: int = 0
    username: str = ""
    password: str = ""
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a Redis URL starts with redis://, rediss:// or unix://")
        query = parse_qs(parts.query)
        db = query.get("db", [""])[0] or (parts.path.strip("/") if parts.scheme != "unix" else "")
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or 6379,
            path=unquote(parts.path) if parts.scheme == "unix" else "",
            db=int(db or 0),
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            tls=parts.scheme == "rediss",
        )


class Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


# A command on its way: its reply's future and, for a script call Redis may have forgotten,
# what sends it again once the script is loaded (None: the reply is final).
_Sent = tuple[asyncio.Future[Any], Callable[[], None] | None]


def _pack(*parts: str | int) -> bytes:
    # (hiredis's stubs type the argument as a tuple of one element.)
    return hiredis.pack_command(parts)  # type: ignore[arg-type]


class _Pipe(asyncio.Protocol):
    """One connection: writes packed commands, resolves a future per reply, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[_Sent] = deque()
        self.lost = False
        # Commands written and replies read so far: a batch is answered once `answered`
        # reaches the `written` count its send left.
        self.written = 0
        self.answered = 0
        self._reader = hiredis.Reader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's is not a subclass)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            future, again = self.waiting.popleft()
            self.answered += 1
            if future.done():
                continue
            if not isinstance(reply, hiredis.ReplyError):
                future.set_result(reply)
            elif again is not None and str(reply).startswith("NOSCRIPT"):
                again()
            else:
                future.set_exception(ScriptError(str(reply)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"the connection to Redis was lost: {exc!r}"))

    def send(self, packed: list[bytes], sent: list[_Sent]) -> None:
        assert self.transport is not None
        self.waiting.extend(sent)
        self.written += len(sent)
        self.transport.writelines(packed)

    def fail(self, exc: Exception) -> None:
        self.lost = True
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class ScriptBatches:
    def __init__(self, url: str, *, timeout_s: float, client_name: str) -> None:
        self._address = RedisAddress.parse(url)
        self._timeout = timeout_s
        self._client_name = client_name
        self._pending: list[tuple[bytes, _Sent]] = []
        self._writing: asyncio.Task[None] | None = None
        self._pipe: _Pipe | None = None
        # Submitted calls not answered yet: `close` waits for them.
        self._open: set[asyncio.Future[Any]] = set()

    def submit(self, script: Script, keys: list[str], args: list[str | int]) -> asyncio.Future[Any]:
        """The script's reply to come; ScriptError when the script fails, OSError or
        TimeoutError when Redis does, within the timeout."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._open.add(future)
        future.add_done_callback(self._open.discard)
        self._send_script(script, keys, args, future, reload=True)
        return future

    async def close(self) -> None:
        """Sends what is pending, waits for every reply (a forgotten script's call too: loaded
        and sent again), then closes the connection."""
        while self._open or self._writing is not None:
            writing = [self._writing] if self._writing is not None else []
            await asyncio.gather(*self._open, *writing, return_exceptions=True)
        pipe, self._pipe = self._pipe, None
        if pipe is not None and pipe.transport is not None:
            pipe.transport.close()

    def _send_script(
        self,
        script: Script,
        keys: list[str],
        args: list[str | int],
        future: asyncio.Future[Any],
        *,
        reload: bool,
    ) -> None:
        def load_then_send() -> None:  # (Redis forgot the script: NOSCRIPT)
            def send_again(loaded: asyncio.Future[Any]) -> None:
                if future.done():
                    return
                if (exc := loaded.exception()) is not None:
                    future.set_exception(exc)
                else:
                    self._send_script(script, keys, args, future, reload=False)

            loaded: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            loaded.add_done_callback(send_again)
            self._enqueue(_pack("SCRIPT", "LOAD", script.source), (loaded, None))

        packed = _pack("EVALSHA", script.sha, len(keys), *keys, *args)
        self._enqueue(packed, (future, load_then_send if reload else None))

    def _enqueue(self, packed: bytes, sent: _Sent) -> None:
        self._pending.append((packed, sent))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write())

    async def _write(self) -> None:
        # Runs on the loop's next turn: every call made in this one is in the batch.
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    pipe = await self._connected()
                except (OSError, TimeoutError) as exc:
                    for _, (future, _) in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                pipe.send([packed for packed, _ in batch], [sent for _, sent in batch])
                asyncio.get_running_loop().call_later(
                    self._timeout, self._expire, pipe, pipe.written
                )
        finally:
            self._writing = None

    def _expire(self, pipe: _Pipe, written: int) -> None:
        if pipe.answered < written and not pipe.lost:
            pipe.fail(TimeoutError(f"Redis did not answer within {self._timeout} s"))
            if self._pipe is pipe:
                self._pipe = None

    async def _connected(self) -> _Pipe:
        pipe = self._pipe
        if pipe is not None and not pipe.lost:
            return pipe
        self._pipe = None
        loop = asyncio.get_running_loop()
        address = self._address
        async with asyncio.timeout(self._timeout):
            if address.path:
                _, pipe = await loop.create_unix_connection(_Pipe, address.path)
            else:
                _, pipe = await loop.create_connection(
                    _Pipe,
                    address.host,
                    address.port,
                    ssl=ssl.create_default_context() if address.tls else None,
                )
            setup: list[tuple[Any, ...]] = []
            if address.password:
                user = address.username
                setup.append(
                    ("AUTH", user, address.password) if user else ("AUTH", address.password)
                )
            if address.db:
                setup.append(("SELECT", address.db))
            setup.append(("CLIENT", "SETNAME", self._client_name))
            answers = [loop.create_future() for _ in setup]
            pipe.send([_pack(*command) for command in setup], [(a, None) for a in answers])
            try:
                await asyncio.gather(*answers)
            except BaseException:
                pipe.fail(ConnectionError("Redis refused the connection's setup"))
                raise
        self._pipe = pipe
        return pipe
