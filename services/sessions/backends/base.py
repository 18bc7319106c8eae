"""The little a SQL backend must provide: queries with `?` placeholders, and transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

Row = Mapping[str, Any]
T = TypeVar("T")


class Queries(Protocol):
    """Statements, inside or outside a transaction."""

    # An SQL expression for the database's clock in epoch milliseconds: leases are judged by
    # it, so replicas with skewed clocks still agree on when a lease ends.
    now_ms_sql: str

    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchall(self, sql: str, *args: Any) -> Sequence[Row]: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Database(Queries, Protocol):
    """Statements outside a transaction are retried when the connection is lost (every
    single statement the store sends is idempotent); what cannot be done or retried raises
    `StoreUnavailable`."""

    name: str

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def run_script(self, script: str) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Queries]: ...

    async def transact(self, work: Callable[[Queries], Awaitable[T]]) -> T:
        """`work` in one transaction, run again from the start when the connection was lost
        before the commit (so nothing of the first run was kept). A commit whose outcome is
        unknown raises `CommitOutcomeUnknown`, not retried."""
        ...

    async def ping(self) -> bool:
        """Whether the database answers now (the health check)."""
        ...
