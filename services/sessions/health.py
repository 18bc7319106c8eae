"""The sessions service's gRPC health follows its database: NOT_SERVING while the database
does not answer, SERVING again when it does, so that probes and load balancers send calls
only to replicas that can serve them (the process itself stays up and reconnects)."""

from __future__ import annotations

import asyncio
import logging

from grpc_health.v1 import health, health_pb2

from services.sessions.backends.base import Database

log = logging.getLogger("rhone.sessions.health")

# How often the database is asked: a probe period is seconds, and one `SELECT 1` a second
# per replica costs the database nothing.
CHECK_INTERVAL_S = 1.0


async def watch_database(
    db: Database,
    servicer: health.aio.HealthServicer,
    service_names: list[str],
    *,
    interval_s: float = CHECK_INTERVAL_S,
) -> None:
    """Runs until cancelled. (During a graceful stop the servicer ignores further changes.)"""
    serving = True
    while True:
        await asyncio.sleep(interval_s)
        answers = await db.ping()
        if answers == serving:
            continue
        serving = answers
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        if serving:
            log.info("database answers again: serving")
        else:
            log.warning("database does not answer: not serving")
        for name in ["", *service_names]:
            await servicer.set(name, status)
