"""SQLite through aiosqlite (its own thread, so the event loop never blocks): the embedded
default. One connection; writers are serialized by an asyncio lock around BEGIN IMMEDIATE."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from services.sessions.backends.base import Row

# How long a replica opening the file keeps trying to switch it to WAL.
WAL_SWITCH_S = 10.0


class SqliteDatabase:
    name = "sqlite"

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._in_tx: asyncio.Task[Any] | None = None

    async def connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        await self._conn.execute("PRAGMA busy_timeout=5000")
        await self._wal()
        await self._conn.execute("PRAGMA foreign_keys=ON")
        await self._conn.execute("PRAGMA synchronous=NORMAL")

    async def _wal(self) -> None:
        """Switches to WAL. SQLite answers "database is locked" at once, without its busy
        handler, while another replica holds the file (migrating it as they all start): the
        switch is tried again until it goes through or WAL_SWITCH_S has passed."""
        deadline = time.monotonic() + WAL_SWITCH_S
        while True:
            try:
                await self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.05)

    async def disconnect(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database not connected")
        return self._conn

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[None]:
        # One connection: a statement outside a transaction holds the lock for its duration, so
        # it can never land inside another task's open transaction.
        if self._in_tx is not None and self._in_tx is asyncio.current_task():
            yield
            return
        async with self._lock:
            yield

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        async with self._statement(), self.conn.execute(sql, args) as cursor:
            row = await cursor.fetchone()
        return row  # type: ignore[return-value]

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]:
        async with self._statement(), self.conn.execute(sql, args) as cursor:
            rows = await cursor.fetchall()
        return rows  # type: ignore[return-value]

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._statement():
            await self.conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self._statement():
            await self.conn.executemany(sql, rows)

    async def run_script(self, script: str) -> None:
        await self.conn.executescript(script)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteDatabase]:
        async with self._lock:
            self._in_tx = asyncio.current_task()
            # aiosqlite runs a statement in its thread even when the task awaiting it is
            # cancelled (a gRPC caller that went away): a BEGIN cancelled in flight still
            # opens the transaction, so it is rolled back too, or every later BEGIN fails.
            begin = asyncio.ensure_future(self.conn.execute("BEGIN IMMEDIATE"))
            try:
                await asyncio.shield(begin)
                yield self
            except BaseException:
                await asyncio.shield(self._roll_back(begin))
                raise
            else:
                await self.conn.execute("COMMIT")
            finally:
                self._in_tx = None

    async def _roll_back(self, begin: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception):
            await begin
        if self.conn.in_transaction:
            await self.conn.execute("ROLLBACK")
