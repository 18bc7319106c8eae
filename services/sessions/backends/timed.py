"""A Database that times its statements into rhone_db_query_duration_seconds, by backend and
statement kind (select, insert, update, delete, ...), and its units by their name (begin_turn,
commit_turn: one round trip each). It wraps either backend; everything but the four statement
methods, `run_unit` and `transaction` passes through."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client.metrics import Histogram

from rhone.observability.metrics import DB_QUERY_DURATION
from services.sessions.backends.base import Database, Queries, Row, Unit


class _Timer:
    """The histogram child of each statement text, bound on its first use (statements are a
    fixed set, so this stays small)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._children: dict[str, Histogram] = {}

    def child(self, sql: str) -> Histogram:
        child = self._children.get(sql)
        if child is None:
            words = sql.split(None, 1)
            operation = words[0].lower() if words else "empty"
            child = self._children[sql] = DB_QUERY_DURATION.labels(self.backend, operation)
        return child

    def unit(self, name: str) -> Histogram:
        key = "unit:" + name  # never a statement's text
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = DB_QUERY_DURATION.labels(self.backend, name)
        return child


class TimedQueries:
    def __init__(self, inner: Queries, timer: _Timer) -> None:
        self._inner = inner
        self._timer = timer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        started = time.perf_counter()
        try:
            return await self._inner.fetchone(sql, *args)
        finally:
            self._timer.child(sql).observe(time.perf_counter() - started)

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]:
        started = time.perf_counter()
        try:
            return await self._inner.fetchall(sql, *args)
        finally:
            self._timer.child(sql).observe(time.perf_counter() - started)

    async def execute(self, sql: str, *args: Any) -> None:
        started = time.perf_counter()
        try:
            await self._inner.execute(sql, *args)
        finally:
            self._timer.child(sql).observe(time.perf_counter() - started)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        started = time.perf_counter()
        try:
            await self._inner.executemany(sql, rows)
        finally:
            self._timer.child(sql).observe(time.perf_counter() - started)


class TimedDatabase(TimedQueries):
    def __init__(self, inner: Database) -> None:
        super().__init__(inner, _Timer(getattr(inner, "name", "unknown")))
        self.db = inner

    async def run_unit(self, unit: Unit) -> list[Sequence[Row]]:
        started = time.perf_counter()
        try:
            return await self.db.run_unit(unit)
        finally:
            self._timer.unit(unit.name).observe(time.perf_counter() - started)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        async with self.db.transaction() as tx:
            yield TimedQueries(tx, self._timer)
