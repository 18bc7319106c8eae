"""The little a SQL backend must provide: queries with `?` placeholders, transactions, and
units (a store operation's statements in one round trip)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

Row = Mapping[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a unit. `needs_row`: the statement is the unit's guard (the lease it
    needs): when it returns no row the unit ends there and keeps nothing."""

    sql: str
    args: tuple[Any, ...] = ()
    needs_row: bool = False


@dataclass(frozen=True, slots=True)
class Unit:
    """The statements of one store operation, run in order as one transaction and in one round
    trip to the database. `name` is the operation's, for rhone_db_query_duration_seconds."""

    name: str
    steps: tuple[Step, ...]


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
    # Whether a statement's WITH may insert, update or delete and its main statement read what
    # they returned (PostgreSQL's data-modifying CTEs): a unit can then be one statement.
    writable_ctes: bool

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def run_script(self, script: str) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Queries]: ...

    async def transact(self, work: Callable[[Queries], Awaitable[T]]) -> T:
        """`work` in one transaction, run again from the start when the connection was lost
        before the commit (so nothing of the first run was kept). A commit whose outcome is
        unknown raises `CommitOutcomeUnknown`, not retried."""
        ...

    async def run_unit(self, unit: Unit) -> list[Sequence[Row]]:
        """The unit's steps in order as one transaction, in one round trip: SQLite runs them
        all in one hop to its thread; on PostgreSQL a unit is one statement (its CTEs do what
        SQLite needs several for), sent alone, so it is its own transaction. Returns each
        step's rows, up to a `needs_row` step that returned none: the unit stopped there and
        kept nothing. A PostgreSQL unit is run again after a lost connection like any
        statement, so it must be idempotent. Never inside a transaction."""
        ...

    async def ping(self) -> bool:
        """Whether the database answers now (the health check)."""
        ...
