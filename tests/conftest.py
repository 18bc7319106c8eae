"""Hooks for the whole test run."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator

import pytest

from tests import postgres_schemas


@pytest.fixture(scope="session", autouse=True)
def drop_postgres_schemas() -> Iterator[None]:
    """Every per-test PostgreSQL schema is dropped when the run ends (they would pile up in the
    shared database otherwise: one per PostgreSQL test, every run)."""
    yield
    left = asyncio.run(postgres_schemas.drop_made())
    if left:
        warnings.warn(f"PostgreSQL schemas left behind: {', '.join(left)}", stacklevel=1)
