"""python -m services.sessions: the sessions service. `python -m services.sessions migrate`
applies the schema migrations and exits (the Kubernetes migration Job)."""

from __future__ import annotations

import sys

import grpc
import uvloop

from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.v1 import sessions_pb2, sessions_pb2_grpc
from services.sessions.config import SessionsSettings
from services.sessions.migrations import migrate, require_current
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


async def main() -> None:
    log = configure_logging("sessions")
    settings = SessionsSettings()
    store = open_store(settings.database_url)
    if settings.migrate_on_start:
        await store.open()
    else:
        await store.db.connect()
        await require_current(store.db)
    tenancy = await open_tenancy(store.db, settings.key_hmac_secret)
    if settings.api_key:
        await tenancy.bootstrap_key(DEFAULT_TENANT, settings.api_key, "RHONE_API_KEY")
    env_pairs = parse_tenant_keys(settings.tenant_keys)
    for tenant, key in env_pairs:
        await tenancy.bootstrap_key(tenant, key, "RHONE_TENANT_KEYS")
    in_env = [key for _, key in env_pairs] + ([settings.api_key] if settings.api_key else [])
    for key_id in await tenancy.revoke_env_keys_except(in_env):
        log.info("key %s left the environment: revoked", key_id)
    log.info("sessions store: %s", store.db.name)
    servicer = SessionServicer(store)
    usage = UsageStore(store.db)
    register_tenancy = tenancy_services(tenancy, usage, settings.admin_key)

    def register(server: grpc.aio.Server) -> None:
        sessions_pb2_grpc.add_SessionServiceServicer_to_server(servicer, server)
        register_tenancy(server)

    await serve(
        name="sessions",
        listen=settings.listen,
        register=register,
        service_names=[
            sessions_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
            *TENANCY_SERVICE_NAMES,
        ],
        on_stop=store.close,
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
