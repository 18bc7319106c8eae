"""PostgreSQL through asyncpg: the backend at scale, shared by many replicas of every service.

Queries are written once with `?` placeholders; they are rewritten to `$n` here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from services.sessions.backends.base import Row

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=256)
def to_dollar(sql: str) -> str:
    counter = iter(range(1, 1_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class _Conn:
    """Runs queries on one connection (inside a transaction)."""

    name = "postgres"

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

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._dsn = dsn
        self._min, self._max = min_size, max_size
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(self._dsn, min_size=self._min, max_size=self._max)

    async def disconnect(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database not connected")
        return self._pool

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        return await self.pool.fetchrow(to_dollar(sql), *args)  # type: ignore[no-any-return]

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]:
        return await self.pool.fetch(to_dollar(sql), *args)  # type: ignore[no-any-return]

    async def execute(self, sql: str, *args: Any) -> None:
        await self.pool.execute(to_dollar(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.pool.executemany(to_dollar(sql), rows)

    async def run_script(self, script: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(script)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield _Conn(conn)
