"""Fitting a call's context to its model before the call (the I/O around context_policy.py).

The model's limits come from the providers service (which alone resolves aliases) and are
cached here for a minute; sizes are estimated and calibrated (context_size.py). Compaction
asks the compactor (compaction/compactor.py, the machinery OpenAI's `/v1/responses/compact`
uses too) for a summary of the older turns; the call then records its turn as a snapshot
whose input is the summary, the turns kept verbatim and the new input, so the next call
starts from it and the summary is made once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import grpc

from rhone.errors import RhoneError
from rhone.token_estimate import message_size, tools_size
from rhone.v1 import content_pb2 as content
from rhone.v1 import providers_pb2 as ppb
from rhone.v1 import providers_pb2_grpc
from services.translator.compaction.compactor import Compactor
from services.translator.compaction.summary import summary_part
from services.translator.context_policy import (
    ContextPolicy,
    first_fitting_cut,
    input_budget,
    too_long,
)
from services.translator.context_size import Calibration
from services.translator.continuity import Composed

log = logging.getLogger("rhone.translator.context")

LIMITS_TTL_S = 60.0
# A summary may take at most this share of the input budget, and at most this many tokens.
SUMMARY_SHARE = 4
SUMMARY_MAX_TOKENS = 2048
KEEP_SHARE = 4


@dataclass(slots=True)
class Fitted:
    """What the policy did, and the numbers it went by."""

    strategy: str
    action: str  # none, truncate, compact, error
    window: int
    budget: int
    # The calibrated estimate of what is sent, and the raw one (to calibrate with).
    estimate: int
    raw: int
    dropped: int = 0


class ContextFitter:
    def __init__(
        self,
        providers: providers_pb2_grpc.ProviderServiceStub,
        compactor: Compactor,
    ) -> None:
        self.providers = providers
        self.compactor = compactor
        self.calibration = Calibration()
        self._limits: dict[tuple[str, str], tuple[float, ppb.ModelLimits]] = {}

    async def limits(self, model: str, home_provider: str) -> ppb.ModelLimits | None:
        """The model's limits; None when the providers service cannot say (an unknown model:
        the call itself then fails with the provider's own 404)."""
        key = (model, home_provider)
        cached = self._limits.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < LIMITS_TTL_S:
            return cached[1]
        try:
            limits = await self.providers.GetModelLimits(
                ppb.ModelLimitsRequest(model=model, home_provider=home_provider), timeout=10
            )
        except grpc.aio.AioRpcError:
            return None
        self._limits[key] = (now, limits)
        return limits

    def observe(self, model: str, raw: int, input_tokens: int) -> None:
        self.calibration.observe(model, raw, input_tokens)

    async def fit(
        self,
        tenant_id: str,
        composed: Composed,
        policy: ContextPolicy,
        *,
        plan_only: bool = False,
        context_sizes: list[int] | None = None,
    ) -> Fitted:
        """Applies the policy to `composed` in place (plan_only: says what it would do, and
        makes no summary). Raises RhoneError (400 context_length_exceeded) when the call
        cannot be fitted, or the policy is `error` and it does not fit as it is."""
        request = composed.request
        model = request.model
        strategy = policy.effective_strategy
        limits = await self.limits(model, request.home_provider)
        messages = list(request.messages)
        start, end = composed.context_start, composed.context_end
        # The stored turns' sizes come from the context cache when it has them (computed once
        # per turn); only the instructions and the new input are measured here.
        stored_sizes: list[int] = (
            context_sizes
            if context_sizes is not None and len(context_sizes) == end - start
            else [message_size(m) for m in messages[start:end]]
        )
        sizes = [
            *(message_size(m) for m in messages[:start]),
            *stored_sizes,
            *(message_size(m) for m in messages[end:]),
        ]
        extra = tools_size(request)
        raw = sum(sizes) + extra
        if limits is None:
            return Fitted(strategy, "none", 0, 0, self.calibration.scale(model, raw), raw)
        budget = input_budget(
            limits.context_window,
            limits.max_output_tokens,
            request.config.max_tokens if request.config.HasField("max_tokens") else 0,
            policy.max_input_tokens,
        )
        fitted = Fitted(
            strategy,
            "none",
            limits.context_window,
            budget,
            self.calibration.scale(model, raw),
            raw,
        )
        if fitted.estimate <= budget:
            return fitted
        head, context, new = messages[:start], messages[start:end], messages[end:]
        fixed = sum(sizes[:start]) + sum(sizes[end:]) + extra
        part_sizes = sizes[start:end]

        def fits(cut: int, allowance: int = 0) -> bool:
            size = self.calibration.scale(model, fixed + allowance + sum(part_sizes[cut:]))
            return size <= budget

        if strategy == "error":
            fitted.action = "error"
            raise too_long(fitted.estimate, budget, model)
        if strategy in ("auto", "compact"):
            allowance = max(16, min(SUMMARY_MAX_TOKENS, budget // SUMMARY_SHARE))
            # The turns kept verbatim take at most a quarter of the budget, so that the
            # calls after a compaction have room to grow before the next one.
            half = budget // KEEP_SHARE
            keep = first_fitting_cut(
                context,
                lambda cut: (
                    fits(cut, allowance)
                    and self.calibration.scale(model, sum(part_sizes[cut:])) <= half
                ),
                minimum=1,
            )
            if keep is not None and keep > 0:
                fitted.action = "compact"
                if plan_only:
                    return fitted
                try:
                    compacted = await self.compactor.compact(
                        tenant_id,
                        [*head, *context[:keep]],
                        model=model,
                        home_provider=request.home_provider,
                        max_tokens=allowance,
                    )
                except RhoneError as exc:
                    if strategy == "compact":
                        raise
                    # auto: a call should not fail because its summariser did; this call
                    # leaves the oldest turns out, and the next one tries to compact again.
                    log.warning("compaction failed, truncating instead: %s", exc)
                    fitted.action = "truncate"
                else:
                    summary = content.Message(
                        role=content.ROLE_USER, parts=[summary_part(compacted.summary.text)]
                    )
                    context = [summary, *context[keep:]]
                    part_sizes = [message_size(summary), *part_sizes[keep:]]
                    composed.snapshot = True
                    composed.turn_input = [*context, *new]
            elif strategy == "compact":
                raise too_long(fitted.estimate, budget, model)
        cut = first_fitting_cut(context, fits)
        if cut is None:
            raise too_long(fitted.estimate, budget, model)
        if cut:
            fitted.action = "truncate" if fitted.action == "none" else fitted.action
            fitted.dropped = cut
            if composed.snapshot and fitted.action == "compact":
                composed.turn_input = [*context[cut:], *new]
        fitted.raw = fixed + sum(part_sizes[cut:])
        fitted.estimate = self.calibration.scale(model, fitted.raw)
        if plan_only:
            return fitted
        kept = context[cut:]
        del request.messages[:]
        request.messages.extend([*head, *kept, *new])
        composed.context_end = start + len(kept)
        return fitted
