"""SQLite through aiosqlite (its own thread, so the event loop never blocks): the embedded
default. One connection; writers are serialized by an asyncio lock around BEGIN IMMEDIATE. A
unit's statements run together in one hop to that thread, and units that arrive while the lock
is held wait together and then share a hop (group commit), each still its own transaction.

A database that stays locked by another process past the busy timeout, or a file that
cannot be read or written, raises `StoreUnavailable` (a 503 at the edge), never the
driver's exception."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from services.sessions.backends.base import Queries, Row, Step, Unit
from services.sessions.store import StoreUnavailable

T = TypeVar("T")

# The result codes (primary, before any extended suffix) of a database that cannot serve
# now, as opposed to a statement that is wrong: https://www.sqlite.org/rescode.html
_UNAVAILABLE_CODES = frozenset(
    {"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_FULL"}
    | {"SQLITE_READONLY", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_PROTOCOL"}
)
# How long a statement waits for another process's write lock. Well within the 5 s deadline
# callers give the sessions service (rhone/runtime/channels.py): past that deadline the caller
# is gone, and a statement that then went through would hold a lease nobody gives back.
DEFAULT_BUSY_TIMEOUT_MS = 2000
# A hop that runs waiting units holds SQLite's thread, and so every other statement, until it
# ends: it takes at most this many (a unit takes some 50-200 us there), and starts no further
# unit once it has run this long (a file another process holds makes each wait the busy timeout).
GROUP_MAX_UNITS = 64
GROUP_MAX_SECONDS = 0.05


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        if "_".join(name.split("_")[:2]) in _UNAVAILABLE_CODES:
            raise StoreUnavailable(f"SQLite cannot serve: {name}") from exc
        raise


def _run_steps(conn: sqlite3.Connection, steps: tuple[Step, ...]) -> list[Sequence[Row]]:
    """A unit, in SQLite's thread: one transaction, which a guard that found no row ends,
    keeping nothing."""
    results: list[Sequence[Row]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in steps:
            rows = conn.execute(step.sql, step.args).fetchall()
            results.append(rows)
            if step.needs_row and not rows:
                conn.execute("ROLLBACK")
                return results
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _run_units(
    conn: sqlite3.Connection, units: list[tuple[Step, ...]]
) -> list[list[Sequence[Row]] | Exception]:
    """Waiting units, in SQLite's thread, in arrival order: each its own transaction, and one
    that fails is its own caller's failure alone. Returns an outcome for each unit it ran; the
    rest (past GROUP_MAX_SECONDS) go back to wait."""
    started = time.monotonic()
    outcomes: list[list[Sequence[Row]] | Exception] = []
    for steps in units:
        if outcomes and time.monotonic() - started > GROUP_MAX_SECONDS:
            break
        try:
            outcomes.append(_run_steps(conn, steps))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


@dataclass(slots=True)
class _Waiting:
    """A unit waiting for the lock, and its caller's answer."""

    steps: tuple[Step, ...]
    answer: asyncio.Future[list[Sequence[Row]]]


class SqliteDatabase:
    name = "sqlite"
    writable_ctes = False
    # SQLite's clock in epoch milliseconds (julianday keeps milliseconds; unixepoch('subsec')
    # needs SQLite 3.42).
    now_ms_sql = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"

    def __init__(self, path: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._in_tx: asyncio.Task[Any] | None = None
        # Units that arrived while the lock was held, and the task that runs them in groups.
        self._waiting: deque[_Waiting] = deque()
        self._runner: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            with _unavailable_on_failure():
                # First: switching to WAL waits for other processes' locks like any statement.
                await conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
                await conn.execute("PRAGMA journal_mode=WAL")
                await conn.execute("PRAGMA foreign_keys=ON")
                await conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            # Another replica starting on the same file held it too long: the caller may try
            # again (at_startup), on a connection of its own.
            await conn.close()
            raise
        self._conn = conn

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
            with _unavailable_on_failure():
                yield
            return
        async with self._lock:
            with _unavailable_on_failure():
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

    async def run_unit(self, unit: Unit) -> list[Sequence[Row]]:
        # aiosqlite's own way into its thread (each of its public calls is one such hop, and a
        # statement takes three: execute, fetch, close), given the whole unit at once. The
        # unit runs to its end there even when the task awaiting it is cancelled.
        if self._in_tx is not None and self._in_tx is asyncio.current_task():
            raise RuntimeError(f"unit {unit.name} inside a transaction")
        if self._runner is None and not self._lock.locked():
            # Nothing holds the lock or waits for a group: the unit has a hop of its own.
            conn = self.conn
            async with self._lock:
                with _unavailable_on_failure():
                    results: list[Sequence[Row]] = await conn._execute(
                        _run_steps, conn._conn, unit.steps
                    )
            return results
        # The lock is held: wait with the other units that arrive meanwhile (the gRPC calls of
        # one request, gathered), to share a hop with them. A caller cancelled while its unit
        # still waits leaves it out: it never runs.
        waiting = _Waiting(unit.steps, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_waiting())
        with _unavailable_on_failure():
            return await waiting.answer

    async def _run_waiting(self) -> None:
        """While units wait: takes the lock (behind the statements and transactions already
        waiting for it, which the lock keeps from ever interleaving with a group) and runs a
        group of them in one hop."""
        try:
            while self._waiting:
                async with self._lock:
                    group: list[_Waiting] = []
                    while self._waiting and len(group) < GROUP_MAX_UNITS:
                        waiting = self._waiting.popleft()
                        if not waiting.answer.done():  # else its caller was cancelled
                            group.append(waiting)
                    if group:
                        await self._run_group(group)
        finally:
            self._runner = None
            for waiting in self._waiting:  # only when this task ended early (cancelled)
                waiting.answer.cancel()
            self._waiting.clear()

    async def _run_group(self, group: list[_Waiting]) -> None:
        try:
            conn = self.conn
            outcomes = await conn._execute(_run_units, conn._conn, [w.steps for w in group])
        except BaseException as exc:
            # Not a unit's failure (the connection is closed, or this task was cancelled): the
            # group's callers see it alike. Their units ran, or not, as the hop went.
            for waiting in group:
                if isinstance(exc, asyncio.CancelledError):
                    waiting.answer.cancel()
                elif not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for waiting, outcome in zip(group, outcomes, strict=False):
            if waiting.answer.done():  # cancelled during the hop; the unit ran anyway
                continue
            if isinstance(outcome, Exception):
                waiting.answer.set_exception(outcome)
            else:
                waiting.answer.set_result(outcome)
        # The hop ran long: the units it did not start wait again, first in line.
        self._waiting.extendleft(reversed(group[len(outcomes) :]))

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
                with _unavailable_on_failure():
                    await asyncio.shield(begin)
                yield self
            except BaseException:
                await asyncio.shield(self._roll_back(begin))
                raise
            else:
                try:
                    with _unavailable_on_failure():
                        await self.conn.execute("COMMIT")
                except StoreUnavailable:
                    await self.conn.execute("ROLLBACK")
                    raise
            finally:
                self._in_tx = None

    async def transact(self, work: Callable[[Queries], Awaitable[T]]) -> T:
        # One connection in this process: nothing to reconnect, and a lock held by another
        # process has had the busy timeout to clear already.
        async with self.transaction() as tx:
            return await work(tx)

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except (StoreUnavailable, sqlite3.Error):
            return False
        return True

    async def _roll_back(self, begin: asyncio.Future[Any]) -> None:
        with contextlib.suppress(Exception):
            await begin
        if self.conn.in_transaction:
            await self.conn.execute("ROLLBACK")
