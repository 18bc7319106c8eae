"""python -m services.sessions: the sessions service."""

from __future__ import annotations

import asyncio
import contextlib

import uvloop
from grpc_health.v1 import health

from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.v1 import sessions_pb2, sessions_pb2_grpc
from services.sessions.config import SessionsSettings
from services.sessions.health import watch_database
from services.sessions.migrations import at_startup
from services.sessions.servicer import SessionServicer
from services.sessions.sql_store import open_store
from services.sessions.store import DEFAULT_TENANT


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
    settings = SessionsSettings()
    store = open_store(settings.database_url)
    await store.open()
    # The environment's keys are the key set: one that left it is revoked at this start.
    keys = environment_keys(settings)
    revoked = await at_startup(lambda: store.replace_api_keys(keys))
    if revoked:
        log.info("revoked %d API key(s) no longer in the environment", revoked)
    log.info("sessions store: %s", store.db.name)
    servicer = SessionServicer(store, settings.session_lease_ms)
    service_names = [sessions_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name]
    watcher: asyncio.Task[None] | None = None

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
        register=lambda server: sessions_pb2_grpc.add_SessionServiceServicer_to_server(
            servicer, server
        ),
        service_names=service_names,
        on_start=watch_health,
        on_stop=stop,
    )


if __name__ == "__main__":
    uvloop.run(main())
