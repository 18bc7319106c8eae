"""Schema migrations: numbered .sql files per backend, applied in order on start-up, each once
(recorded in schema_migrations). Idempotent, and safe when many replicas start together
(PostgreSQL takes an advisory lock).

In Kubernetes a Job runs them (`python -m services.sessions migrate`) with the schema owner's
credentials, and the serving pods start with RHONE_MIGRATE_ON_START=false: they only check
that the schema is current (`pending`), so their database role needs no DDL rights."""

from __future__ import annotations

from pathlib import Path

from services.sessions.backends.base import Database
from services.sessions.store import now_ms

_HERE = Path(__file__).parent
_LOCK_KEY = 0x5268_6F6E  # "Rhon"


def migration_files(backend: str) -> list[tuple[int, Path]]:
    files = sorted((_HERE / backend).glob("*.sql"))
    return [(int(path.name.split("_", 1)[0]), path) for path in files]


async def migrate(db: Database) -> list[int]:
    """Applies the pending migrations; returns the versions applied now."""
    async with db.transaction() as tx:
        # Under the lock too: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a
        # concurrent one (both pass the check, one fails on the catalog's unique index).
        if db.name == "postgres":
            await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)"
        )
    applied: list[int] = []
    for version, path in migration_files(db.name):
        async with db.transaction() as tx:
            if db.name == "postgres":
                await tx.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
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


class SchemaBehind(RuntimeError):
    """The database lacks migrations this build needs; the migrate command applies them."""


async def pending(db: Database) -> list[int]:
    """The versions this build has and the database has not applied; reads only."""
    exists = (
        "SELECT to_regclass('schema_migrations') IS NOT NULL AS found"
        if db.name == "postgres"
        else "SELECT count(*) > 0 AS found FROM sqlite_master WHERE name = 'schema_migrations'"
    )
    found = await db.fetchone(exists)
    rows = []
    if found is not None and found["found"]:
        rows = list(await db.fetchall("SELECT version FROM schema_migrations"))
    applied = {int(row["version"]) for row in rows}
    return [version for version, _ in migration_files(db.name) if version not in applied]


async def require_current(db: Database) -> None:
    if missing := await pending(db):
        raise SchemaBehind(
            f"the database lacks schema migrations {missing}: "
            "run `python -m services.sessions migrate` first (or set RHONE_MIGRATE_ON_START=true)"
        )
