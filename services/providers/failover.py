"""Retries and failover, only before the first event has reached the caller.

Each deployment is tried up to `max_attempts` times on retryable failures (429, 5xx, 529,
connection errors), sleeping a jittered exponential backoff or the upstream's retry-after when
that is shorter than the cap; then the next deployment. A deployment that rejected Rhone's
credentials or timed out (upstream_errors.NEXT_DEPLOYMENT) gives way to the next one at once:
asking it again would only fail again, or hang again. Any other non-retryable failure (a bad
request) ends the call at once: another deployment would refuse it too. Once an event has been
passed on, a failure ends the stream as it is."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Mapping
from typing import Protocol

from rhone import canonical as ev
from rhone.errors import Code, make_failure
from rhone.observability.upstream import attempt_started
from rhone.v1 import generation_pb2 as gen
from services.providers.routing import Deployment
from services.providers.upstream_errors import NEXT_DEPLOYMENT

log = logging.getLogger("rhone.providers.failover")


class Connector(Protocol):
    # The name deployments give this connector (build_connectors keys); not a provider name.
    connector_name: str

    def stream(
        self, request: gen.GenerateRequest, deployment: Deployment
    ) -> AsyncGenerator[gen.GenerationEvent, None]: ...


def backoff_s(attempt: int, failure: gen.Failure, cap_s: float) -> float:
    """The wait before retry number `attempt` (1-based)."""
    if 0 < failure.retry_after_ms <= cap_s * 1000:
        return failure.retry_after_ms / 1000
    return min(0.25 * 2 ** (attempt - 1), cap_s) * random.uniform(0.75, 1.0)


async def generate_with_failover(
    request: gen.GenerateRequest,
    deployments: list[Deployment],
    connectors: Mapping[str, Connector],
    *,
    max_attempts: int,
    max_backoff_s: float,
) -> AsyncGenerator[gen.GenerationEvent, None]:
    last = make_failure(Code.ERROR_CODE_UNAVAILABLE, "No deployment could serve the request.")
    previous = ""
    for deployment in deployments:
        connector = connectors.get(deployment.connector_name)
        if connector is None:  # a routing config naming a connector this process lacks
            last = make_failure(
                Code.ERROR_CODE_UNAVAILABLE, f"No connector for {deployment.connector_name}."
            )
            continue
        attempt = 0
        for attempt in range(1, max_attempts + 1):
            attempt_started(deployment.provider, deployment.model, attempt, previous)
            stream = connector.stream(request, deployment)
            try:
                first = await anext(stream, None)
                if first is None:
                    last = make_failure(
                        Code.ERROR_CODE_UNAVAILABLE, f"{deployment.provider} sent nothing."
                    )
                elif first.HasField("failure"):
                    last = first.failure
                    if last.detail in NEXT_DEPLOYMENT:
                        break
                    if not last.retryable:
                        yield first
                        return
                else:
                    yield first
                    async for event in stream:
                        yield event
                    return
            finally:
                await stream.aclose()
            if attempt < max_attempts:
                delay = backoff_s(attempt, last, max_backoff_s)
                log.info(
                    "%r failed (%s), retry %d in %.2fs", deployment, last.message, attempt, delay
                )
                await asyncio.sleep(delay)
        log.info("%r gave up after attempt %d: %s", deployment, attempt, last.message)
        previous = deployment.provider
    yield ev.failed(last)
