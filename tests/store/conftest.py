"""Each store test runs on both backends: SQLite in a temp file, and the real PostgreSQL on
127.0.0.1:5432 (database `test`; RHONE_TEST_DATABASE_URL overrides) in a schema of its own."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.sessions.sql_store import SqlSessionStore, open_store

PG_URL = os.environ.get("RHONE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def postgres_url() -> str:
    """A fresh schema, so runs never see each other's rows."""
    schema = "rhone_test_" + secrets.token_hex(4)
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
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
