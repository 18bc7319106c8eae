"""Schema migrations apart from serving (how Kubernetes runs them): `python -m services.sessions
migrate` applies them with the schema owner's role, and a sessions service started with
RHONE_MIGRATE_ON_START=false serves with a role that has no DDL rights at all, on real
PostgreSQL."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rhone.launcher import free_port
from tests.store.conftest import PG_URL

API_KEY = "rk-migrate-test-key"


@dataclass
class Database:
    owner_url: str  # may run DDL
    app_url: str  # SELECT/INSERT/UPDATE/DELETE only
    schema: str


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    schema = "rhone_mig_" + secrets.token_hex(4)
    role = "rhone_app_" + secrets.token_hex(4)
    conn = await asyncpg.connect(PG_URL)
    await conn.execute(f"CREATE SCHEMA {schema}")
    await conn.execute(f"CREATE ROLE {role} LOGIN")
    await conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    await conn.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
    )
    await conn.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}"
    )
    url = urlsplit(PG_URL)
    separator = "&" if url.query else "?"
    owner_url = f"{PG_URL}{separator}search_path={schema}"
    app_url = urlunsplit(url._replace(netloc=f"{role}@{url.netloc.rpartition('@')[2]}"))
    try:
        yield Database(owner_url, f"{app_url}{separator}search_path={schema}", schema)
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE {role}")
        await conn.close()


def sessions(database_url: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.sessions", *args],
        env={
            **os.environ,
            "RHONE_DATABASE_URL": database_url,
            "RHONE_API_KEY": API_KEY,
            "RHONE_SERVICE_TOKEN": "test-service-token",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finished(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    out, _ = process.communicate(timeout=60)
    return process.returncode, out.decode()


def wait_serving(address: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"sessions exited: {finished(process)[1]}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise TimeoutError("sessions did not become SERVING")


async def test_serving_pods_need_no_ddl_rights_once_the_migrate_job_ran(
    database: Database,
) -> None:
    listen = {"RHONE_SESSIONS_LISTEN": f"127.0.0.1:{free_port()}"}
    # The app role cannot create the schema itself...
    code, out = finished(sessions(database.app_url, **listen))
    assert code != 0 and "permission denied" in out
    # ...and a serving pod that must not migrate says what to run instead.
    code, out = finished(sessions(database.app_url, RHONE_MIGRATE_ON_START="false", **listen))
    assert code != 0 and "python -m services.sessions migrate" in out

    code, out = finished(sessions(database.owner_url, "migrate"))
    assert code == 0, out
    code, out = finished(sessions(database.owner_url, "migrate"))
    assert code == 0 and "none pending" in out, out

    address = listen["RHONE_SESSIONS_LISTEN"]
    server = sessions(database.app_url, RHONE_MIGRATE_ON_START="false", **listen)
    try:
        wait_serving(address, server)
    finally:
        server.terminate()
        server.wait(30)
    conn = await asyncpg.connect(database.owner_url.split("?")[0])
    try:
        # The serving process (no DDL rights) wrote the environment's key, as rows only.
        tenant = await conn.fetchval(
            f"SELECT tenant_id FROM {database.schema}.tenant_keys WHERE name = 'RHONE_API_KEY'"
        )
    finally:
        await conn.close()
    assert tenant == "default"


def test_an_unknown_subcommand_is_refused() -> None:
    code, out = finished(sessions("sqlite:///:memory:", "migrat"))
    assert code != 0 and "usage: python -m services.sessions [migrate]" in out
