"""The PostgreSQL schemas a test run makes, one per test that stores on PostgreSQL (so runs never
see each other's rows), and their removal when the run ends (tests/conftest.py).

Only the schemas this run made are dropped: other runs share the database at the same time."""

from __future__ import annotations

import os
import secrets

import asyncpg

PG_URL = os.environ.get("RHONE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "rhone_test_"

_made: list[str] = []


async def new_schema() -> str:
    """A fresh, empty schema's name."""
    schema = PREFIX + secrets.token_hex(4)
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    _made.append(schema)
    return schema


async def drop_made() -> list[str]:
    """Drops every schema this run made; the names of those it could not (a connection a
    crashed test left holding a lock), which stay for the next look."""
    if not _made:
        return []
    left: list[str] = []
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute("SET lock_timeout = '5s'")
        while _made:
            schema = _made.pop()
            try:
                await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            except asyncpg.PostgresError:
                left.append(schema)
    finally:
        await conn.close()
    return left
