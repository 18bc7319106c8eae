"""Schema migrations: numbered .sql files per backend, applied in order on start-up, each once
(recorded in schema_migrations). Idempotent, and safe when many replicas start together
(PostgreSQL takes an advisory lock)."""

from __future__ import annotations

from pathlib import Path

from services.sessions.backends.base import Database, Queries
from services.sessions.store import now_ms

_HERE = Path(__file__).parent
_LOCK_KEY = 0x5268_6F6E  # "Rhon"


async def take_startup_lock(tx: Queries, db: Database) -> None:
    """Serializes the start-up work of replicas that share a database (migrations, the key
    set), until the transaction ends. SQLite's BEGIN IMMEDIATE serializes already."""
    if db.name == "postgres":
        await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")


def migration_files(backend: str) -> list[tuple[int, Path]]:
    files = sorted((_HERE / backend).glob("*.sql"))
    return [(int(path.name.split("_", 1)[0]), path) for path in files]


async def migrate(db: Database) -> list[int]:
    """Applies the pending migrations; returns the versions applied now."""
    async with db.transaction() as tx:
        # Under the lock too: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a
        # concurrent one (both pass the check, one fails on the catalog's unique index).
        await take_startup_lock(tx, db)
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)"
        )
    applied: list[int] = []
    for version, path in migration_files(db.name):
        async with db.transaction() as tx:
            await take_startup_lock(tx, db)
            done = await tx.fetchone(
                "SELECT version FROM schema_migrations WHERE version = ?", version
            )
            if done is not None:
                continue
            if db.name == "postgres":
                await tx.execute(path.read_text())
            else:
                for statement in path.read_text().split(";"):
                    if statement.strip():
                        await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?, ?)",
                version,
                now_ms(),
            )
            applied.append(version)
    return applied
