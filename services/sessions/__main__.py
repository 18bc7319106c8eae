"""python -m services.sessions: the sessions service. `python -m services.sessions migrate`
applies the schema migrations and exits (the Kubernetes migration Job)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys

import grpc
import uvloop
from grpc_health.v1 import health

from rhone.runtime.cpu_policy import apply_cpu_policy
from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.runtime.settings import ServingSettings
from rhone.v1 import runs_pb2, runs_pb2_grpc, sessions_pb2, sessions_pb2_grpc
from services.sessions.config import SessionsSettings
from services.sessions.health import watch_database
from services.sessions.migrations import at_startup, migrate, require_current
from services.sessions.run_servicer import RunServicer
from services.sessions.run_store import SqlRunStore
from services.sessions.servicer import SessionServicer
from services.sessions.sql_store import open_store
from services.sessions.store import DEFAULT_TENANT
from services.sessions.tenancy_servicer import (
    TENANCY_SERVICE_NAMES,
    open_tenancy,
    tenancy_services,
)
from services.sessions.usage_store import UsageStore


def parse_tenant_keys(spec: str) -> list[tuple[str, str]]:
    """'tenant_a:key1,tenant_b:key2' -> [(tenant_a, key1), (tenant_b, key2)]."""
    pairs = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        tenant, sep, key = item.partition(":")
        if not sep or not tenant or not key:
            raise ValueError("RHONE_TENANT_KEYS entries must look like tenant:key")
        pairs.append((tenant, key))
    return pairs


def environment_keys(settings: SessionsSettings) -> list[tuple[str, str]]:
    """The (tenant, key) pairs RHONE_API_KEY and RHONE_TENANT_KEYS name."""
    keys = [(DEFAULT_TENANT, settings.api_key)] if settings.api_key else []
    return keys + parse_tenant_keys(settings.tenant_keys)


async def main() -> None:
    log = configure_logging("sessions")
    apply_cpu_policy(ServingSettings().cpu_policy)
    settings = SessionsSettings()
    store = open_store(settings.database_url)
    if settings.migrate_on_start:
        await store.open()
    else:
        await store.db.connect()
        await require_current(store.db)
    tenancy = await at_startup(lambda: open_tenancy(store.db, settings.key_hmac_secret))
    # The environment's keys bootstrap a fresh install; one that left it is revoked now.
    env_pairs = environment_keys(settings)
    for tenant, key in env_pairs:
        source = "RHONE_API_KEY" if key == settings.api_key else "RHONE_TENANT_KEYS"
        await at_startup(functools.partial(tenancy.bootstrap_key, tenant, key, source))
    in_env = [key for _, key in env_pairs]
    for key_id in await at_startup(lambda: tenancy.revoke_env_keys_except(in_env)):
        log.info("key %s left the environment: revoked", key_id)
    log.info("sessions store: %s", store.db.name)
    servicer = SessionServicer(store, settings.session_lease_ms)
    runs = RunServicer(SqlRunStore(store.db))
    usage = UsageStore(store.db)
    register_tenancy = tenancy_services(tenancy, usage, settings.admin_key)
    service_names = [
        sessions_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
        *TENANCY_SERVICE_NAMES,
        runs_pb2.DESCRIPTOR.services_by_name["RunService"].full_name,
    ]
    watcher: asyncio.Task[None] | None = None

    def register(server: grpc.aio.Server) -> None:
        sessions_pb2_grpc.add_SessionServiceServicer_to_server(servicer, server)
        register_tenancy(server)
        runs_pb2_grpc.add_RunServiceServicer_to_server(runs, server)

    async def watch_health(health_servicer: health.aio.HealthServicer) -> None:
        nonlocal watcher
        watcher = asyncio.create_task(watch_database(store.db, health_servicer, service_names))

    async def stop() -> None:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await store.close()

    await serve(
        name="sessions",
        listen=settings.listen,
        register=register,
        service_names=service_names,
        on_start=watch_health,
        on_stop=stop,
    )


async def migrate_only() -> None:
    log = configure_logging("sessions")
    store = open_store(SessionsSettings().database_url)
    await store.db.connect()
    try:
        applied = await migrate(store.db)
    finally:
        await store.db.disconnect()
    log.info("schema migrations applied: %s", applied or "none pending")


if __name__ == "__main__":
    if sys.argv[1:] == ["migrate"]:
        uvloop.run(migrate_only())
    elif sys.argv[1:]:
        sys.exit(f"usage: python -m services.sessions [migrate], not {' '.join(sys.argv[1:])}")
    else:
        uvloop.run(main())
