"""Each store test runs on both backends: SQLite in a temp file, and the real PostgreSQL on
127.0.0.1:5432 (database `test`; RHONE_TEST_DATABASE_URL overrides) in a schema of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.sessions.sql_store import SqlSessionStore, open_store
from tests.postgres_schemas import PG_URL, new_schema

__all__ = ["PG_URL", "postgres_url"]


async def postgres_url() -> str:
    """A URL on a fresh schema, so runs never see each other's rows (dropped when the run ends,
    tests/postgres_schemas.py)."""
    schema = await new_schema()
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}search_path={schema}"


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/rhone.db"
    return await postgres_url()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlSessionStore]:
    store = open_store(store_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
