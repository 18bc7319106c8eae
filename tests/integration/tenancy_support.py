"""What the tenancy tests share: a stack's settings for keys, limits and usage (the admin key,
PostgreSQL, Redis under a prefix of its own, a price on the local model), the admin API's
calls, and a tenant's usage totals."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml

from rhone.launcher import Cluster
from tests.integration.conftest import API_KEY

ADMIN_KEY = "rhone_admin_test_" + secrets.token_hex(8)
# The routing file's aliases of the local model.
ALIASES = ("team-fast", "team-smart")


def tenancy_env(root: Path, database_url: str, **extra: str) -> dict[str, str]:
    routing = root / "routing.yaml"
    # A price on the local model, so that budgets and usage show money; two aliases of it, so
    # that the model listings have more than one model to leave out.
    routing.write_text(
        yaml.safe_dump(
            {
                "prices": {"local": {"input": 1000.0, "output": 2000.0}},
                "models": {alias: ["local"] for alias in ALIASES},
            }
        )
    )
    return {
        "RHONE_ROUTING_CONFIG": str(routing),
        # Calls that last, so that concurrent ones overlap.
        "RHONE_LOCAL_TOKEN_DELAY_MS": "100",
        "RHONE_API_KEY": API_KEY,
        "RHONE_ADMIN_KEY": ADMIN_KEY,
        "RHONE_KEY_HMAC_SECRET": "test-hmac-" + secrets.token_hex(8),
        "RHONE_DATABASE_URL": database_url,
        "RHONE_LIMITS_PREFIX": "rhone-test-" + secrets.token_hex(6),
        "RHONE_LOG_LEVEL": "INFO",
        **extra,
    }


def admin(cluster: Cluster, key: str = ADMIN_KEY) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.base_url + "/v1/admin",
        headers={"authorization": f"Bearer {key}", "x-rhone-actor": "pytest"},
        timeout=30,
    )


def new_tenant(cluster: Cluster, **fields: Any) -> str:
    tenant = "t-" + secrets.token_hex(4)
    with admin(cluster) as client:
        reply = client.post("/tenants", json={"id": tenant, "name": "Test", **fields})
    assert reply.status_code == 201, reply.text
    return tenant


def new_key(cluster: Cluster, tenant: str, **fields: Any) -> dict[str, Any]:
    with admin(cluster) as client:
        reply = client.post(f"/tenants/{tenant}/keys", json=fields)
    assert reply.status_code == 201, reply.text
    key: dict[str, Any] = reply.json()
    return key


def wait_for(condition: Callable[[], bool], deadline_s: float) -> float:
    """Seconds until condition() held; fails after the deadline."""
    start = time.monotonic()
    while time.monotonic() - start < deadline_s:
        if condition():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {deadline_s}s")


def usage_of(cluster: Cluster, key: str, **params: str) -> dict[str, Any]:
    reply = httpx.get(
        cluster.base_url + "/v1/usage",
        params=params,
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def total_calls(cluster: Cluster, key: str) -> int:
    rows = usage_of(cluster, key)["data"]
    return int(rows[0]["calls"]) if rows else 0


def usage_records(database_url: str, key_id: str) -> list[dict[str, Any]]:
    """A key's usage records as the database holds them (the usage APIs sum them and name
    no session)."""

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch(
                "SELECT surface, session_id, status, error_code FROM usage_records "
                "WHERE key_id = $1",
                key_id,
            )
        finally:
            await conn.close()
        return [dict(row) for row in rows]

    return asyncio.run(fetch())
