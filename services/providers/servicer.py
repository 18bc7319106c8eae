"""The ProviderService over gRPC: route, order by weight, then stream with retries and failover.

Cancellation: when the caller goes away, gRPC cancels this handler's task; the connector's
`async with` then closes the upstream response and its connection."""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator

import grpc

from rhone import canonical as ev
from rhone.coalesce import coalesced
from rhone.errors import Code, RhoneError, make_failure
from rhone.observability.upstream import generation_span
from rhone.rpc_errors import abort
from rhone.token_estimate import estimate_tokens
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2 as pb
from rhone.v1 import providers_pb2_grpc as pb_grpc
from services.providers.config import ProvidersSettings
from services.providers.failover import Connector, generate_with_failover
from services.providers.model_limits import ModelLimits
from services.providers.routing import Deployment, Router, weighted_order
from services.providers.upstream_errors import NEXT_DEPLOYMENT


class ProviderServicer(pb_grpc.ProviderServiceServicer):
    def __init__(
        self,
        settings: ProvidersSettings,
        connectors: dict[str, Connector],
        router: Router | None = None,
    ) -> None:
        self.settings = settings
        self.connectors = connectors
        self.router = router or Router(settings)
        self.limits = ModelLimits(self.router, settings.local_context_window)
        self._rng = random.Random()

    def deployments(self, request: gen.GenerateRequest) -> list[Deployment]:
        """Raises RhoneError (404 model_not_found) for a model nothing serves."""
        deployments = self.router.route(request.model, request.home_provider)
        # Session affinity: one session's calls (one cache key) draw the same order among
        # deployments of equal priority, so they land where its prompt is already cached.
        rng = random.Random(zlib.crc32(request.cache_key.encode())) if request.cache_key else None
        return weighted_order(deployments, rng or self._rng)

    async def Generate(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvent]:
        events = self._generation(request, context)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    async def GenerateBatches(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvents]:
        batches = coalesced(self._generation(request, context))
        try:
            async for batch in batches:
                yield gen.GenerationEvents(events=batch)
        finally:
            await batches.aclose()

    async def GenerateWhole(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> gen.GenerationEvents:
        events = self._generation(request, context)
        try:
            return gen.GenerationEvents(events=[event async for event in events])
        finally:
            await events.aclose()

    async def _generation(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[gen.GenerationEvent, None]:
        """Route, then generate with retries and failover, within the call's deadline."""
        try:
            deployments = self.deployments(request)
        except RhoneError as exc:
            yield ev.failed(exc.failure)
            return
        remaining = context.time_remaining()
        deadline = self.settings.call_timeout_s if remaining is None else remaining
        events = generate_with_failover(
            request,
            deployments,
            self.connectors,
            max_attempts=self.settings.max_attempts,
            max_backoff_s=self.settings.max_backoff_s,
        )
        # With tracing on, the generation's span (None when off), told of each event here.
        span = generation_span(request)
        try:
            async with asyncio.timeout(deadline):
                async for event in events:
                    if span is not None:
                        span.note(event)
                    yield event
        except TimeoutError:
            failed = ev.failed(
                make_failure(
                    Code.ERROR_CODE_TIMEOUT,
                    f"The call did not finish within its deadline of {deadline:.0f}s.",
                )
            )
            if span is not None:
                span.note(failed)
            yield failed
        finally:
            try:
                await events.aclose()
            finally:
                if span is not None:
                    span.end()

    async def ListModels(
        self, request: pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        created = int(time.time())
        return pb.ListModelsResponse(
            models=[
                pb.ModelInfo(id=model, provider=provider, owned_by=provider, created=created)
                for model, provider in self.router.models()
            ]
        )

    async def CountTokens(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> pb.CountTokensResponse:
        try:
            deployment = self.deployments(request)[0]
        except RhoneError as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, exc.failure.message, exc.failure.detail)
        counter = getattr(self.connectors.get(deployment.connector_name), "count_tokens", None)
        if counter is not None:
            try:
                return pb.CountTokensResponse(input_tokens=await counter(request, deployment))
            except RhoneError as exc:
                # A count the upstream refused for Rhone's own reasons (its credentials, a
                # timeout) falls back to the estimate like any passing failure.
                own = exc.failure.detail in NEXT_DEPLOYMENT
                if not exc.failure.retryable and not own:
                    status = (
                        grpc.StatusCode.NOT_FOUND
                        if exc.failure.code == Code.ERROR_CODE_NOT_FOUND
                        else grpc.StatusCode.INVALID_ARGUMENT
                    )
                    await abort(context, status, exc.failure.message, exc.failure.detail)
        return pb.CountTokensResponse(input_tokens=estimate_tokens(request), estimated=True)

    async def GetModelLimits(
        self, request: pb.ModelLimitsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelLimits:
        try:
            limits, provider = self.limits.of(request.model, request.home_provider)
        except RhoneError as exc:
            await abort(context, grpc.StatusCode.NOT_FOUND, exc.failure.message, exc.failure.detail)
        return pb.ModelLimits(
            context_window=limits.context_window,
            max_output_tokens=limits.max_output_tokens,
            provider=provider,
        )
