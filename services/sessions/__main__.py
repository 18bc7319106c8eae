"""python -m services.sessions: the sessions service. `python -m services.sessions migrate`
applies the schema migrations and exits (the Kubernetes migration Job)."""

from __future__ import annotations

import sys

import grpc
import uvloop

from rhone.runtime.grpc_server import serve
from rhone.runtime.logs import configure_logging
from rhone.v1 import runs_pb2, runs_pb2_grpc, sessions_pb2, sessions_pb2_grpc
from services.sessions.config import SessionsSettings
from services.sessions.migrations import migrate, require_current
from services.sessions.run_servicer import RunServicer
from services.sessions.run_store import SqlRunStore
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


async def main() -> None:
    log = configure_logging("sessions")
    settings = SessionsSettings()
    store = open_store(settings.database_url)
    if settings.migrate_on_start:
        await store.open()
    else:
        await store.db.connect()
        await require_current(store.db)
    if settings.api_key:
        await store.put_api_key(DEFAULT_TENANT, settings.api_key)
    for tenant, key in parse_tenant_keys(settings.tenant_keys):
        await store.put_api_key(tenant, key)
    log.info("sessions store: %s", store.db.name)
    servicer = SessionServicer(store)
    runs = RunServicer(SqlRunStore(store.db))

    def register(server: grpc.aio.Server) -> None:
        sessions_pb2_grpc.add_SessionServiceServicer_to_server(servicer, server)
        runs_pb2_grpc.add_RunServiceServicer_to_server(runs, server)

    await serve(
        name="sessions",
        listen=settings.listen,
        register=register,
        service_names=[
            sessions_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
            runs_pb2.DESCRIPTOR.services_by_name["RunService"].full_name,
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
