"""PostgreSQL through asyncpg: the backend at scale, shared by many replicas of every service.

Queries are written once with `?` placeholders; they are rewritten to `$n` here.

Connections come and go (a failover, a restart, `pg_terminate_backend`): a statement or a
transaction that loses its connection before anything of it was kept is run again on a new
one, a few times over about a second; past that, or when a commit's outcome is unknown, the
caller gets `StoreUnavailable` (a 503 at the edge), never the driver's exception."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg

from services.sessions.backends.base import Queries, Row, Unit
from services.sessions.store import CommitOutcomeUnknown, StoreUnavailable

log = logging.getLogger("rhone.sessions.postgres")

T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\?")

# What a lost or refused connection raises: the statement did not complete on it.
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # What asyncpg raises when the server's "terminating connection" notice arrives while
    # the connection sits idle in the pool, and the next statement finds it half-closed.
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,
)
# Pauses between attempts after a lost connection: about a second in all, the time a
# managed PostgreSQL's failover or a pooler's restart usually takes to accept again.
RETRY_DELAYS_S = (0.05, 0.2, 0.75)
# No attempt starts after this: callers give the sessions service 5 s
# (rhone/runtime/channels.py), and an answer after their deadline helps nobody.
RETRY_BUDGET_S = 3.0
CONNECT_TIMEOUT_S = 2.0
# No statement of the store's legitimately runs this long; past it the database is not serving.
STATEMENT_TIMEOUT_S = 15.0
# A transaction left open by a holder that stopped talking (hung, partitioned) is ended by
# the server after this, so its row locks never outlive it by more.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000
PING_TIMEOUT_S = 2.0


@lru_cache(maxsize=256)
def to_dollar(sql: str) -> str:
    counter = iter(range(1, 1_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


# The server's clock (the statement's start), in epoch milliseconds.
NOW_MS_SQL = "(extract(epoch from statement_timestamp()) * 1000)::bigint"


async def _as_it_is(conn: Any) -> None:
    """How a connection goes back to the pool: as it is, once asyncpg has rolled back any
    transaction left open. The stores leave no session state on a connection (no SET, LISTEN,
    cursor or session-level advisory lock: the start-up lock is a transaction's), so asyncpg's
    default reset (RESET ALL, UNLISTEN *, ...) would only cost every statement a second round
    trip to the database."""


class _Conn:
    """Runs queries on one connection (inside a transaction)."""

    name = "postgres"
    now_ms_sql = NOW_MS_SQL

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        return await self._conn.fetchrow(to_dollar(sql), *args)  # type: ignore[no-any-return]

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]:
        return await self._conn.fetch(to_dollar(sql), *args)  # type: ignore[no-any-return]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(to_dollar(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(to_dollar(sql), rows)


class PostgresDatabase:
    name = "postgres"
    now_ms_sql = NOW_MS_SQL
    writable_ctes = True

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._dsn = dsn
        self._min, self._max = min_size, max_size
        self._pool: asyncpg.Pool | None = None
        # The health check's own connection: a pool busy with calls is not a database down.
        self._probe: Any = None

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min,
            max_size=self._max,
            timeout=CONNECT_TIMEOUT_S,
            command_timeout=STATEMENT_TIMEOUT_S,
            reset=_as_it_is,
            server_settings={
                "idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_TIMEOUT_MS)
            },
        )

    async def disconnect(self) -> None:
        if self._probe is not None:
            self._probe.terminate()
            self._probe = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database not connected")
        return self._pool

    async def _retrying(self, op: Callable[[Any], Awaitable[T]]) -> T:
        """`op` on a pooled connection, again on a fresh one when the connection was lost."""
        deadline = time.monotonic() + RETRY_BUDGET_S
        for delay in (*RETRY_DELAYS_S, None):
            try:
                async with self.pool.acquire() as conn:
                    try:
                        return await op(conn)
                    except CONNECTION_LOST:
                        # Never handed out again: the pool opens a fresh one in its place.
                        conn.terminate()
                        raise
            except TimeoutError as exc:
                # (Before CONNECTION_LOST, which holds OSError, TimeoutError's base.) A slow
                # database is not made faster by asking again.
                raise StoreUnavailable("PostgreSQL did not answer in time") from exc
            except CONNECTION_LOST as exc:
                if delay is None or time.monotonic() + delay > deadline:
                    raise StoreUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}") from exc
                log.warning("PostgreSQL connection lost (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        return await self._retrying(lambda conn: conn.fetchrow(to_dollar(sql), *args))

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]:
        return await self._retrying(lambda conn: conn.fetch(to_dollar(sql), *args))

    async def execute(self, sql: str, *args: Any) -> None:
        await self._retrying(lambda conn: conn.execute(to_dollar(sql), *args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._retrying(lambda conn: conn.executemany(to_dollar(sql), rows))

    async def run_unit(self, unit: Unit) -> list[Sequence[Row]]:
        if len(unit.steps) != 1:
            raise ValueError(f"unit {unit.name}: a PostgreSQL unit is one statement")
        step = unit.steps[0]
        return [await self.fetchall(step.sql, *step.args)]

    async def run_script(self, script: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(script)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield _Conn(conn)

    async def transact(self, work: Callable[[Queries], Awaitable[T]]) -> T:
        async def attempt(conn: Any) -> T:
            tx = conn.transaction()
            await tx.start()
            try:
                result = await work(_Conn(conn))
            except BaseException:
                with suppress(*CONNECTION_LOST):
                    await tx.rollback()
                raise
            try:
                await tx.commit()
            except CONNECTION_LOST as exc:
                # (TimeoutError included.) Sent or not, kept or not: only a read could tell.
                raise CommitOutcomeUnknown("PostgreSQL connection lost during a commit") from exc
            return result

        return await self._retrying(attempt)

    async def ping(self) -> bool:
        try:
            if self._probe is None or self._probe.is_closed():
                self._probe = await asyncpg.connect(self._dsn, timeout=PING_TIMEOUT_S)
            await self._probe.fetchval("SELECT 1", timeout=PING_TIMEOUT_S)
        except (*CONNECTION_LOST, asyncpg.PostgresError):
            if self._probe is not None:
                self._probe.terminate()
                self._probe = None
            return False
        return True
