"""Metering one call at the edge: the key's model allow-list, admission against its limits
and budgets (services/facade/limits.py), the token estimate while it streams, and, once it
ends, the real usage charged to the limits and budgets and its usage record written.

A key with no limits and no budget costs no Redis round trip. The token limits charge an
estimate when a call is admitted (a quarter of the request's bytes), one token per streamed
frame while it streams (charged about once a second), and at the end replace the estimate
with the real input + output tokens from the call's trailer."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from rhone.errors import Code, RhoneError, http_status_of, make_failure
from rhone.pricing import PriceTable
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import tenancy_pb2 as tnpb
from rhone.v1 import translator_pb2 as tpb
from services.facade.auth import Principal
from services.facade.limit_checks import Admission, Check
from services.facade.limits import (
    MICRO,
    FailOpenLog,
    Limiter,
    LimitsUnavailable,
    budget_month,
)
from services.facade.ratelimit_headers import go_duration, rate_limit_headers, retry_headers
from services.facade.stream_end import INTERRUPTED
from services.facade.usage_writer import UsageWriter

log = logging.getLogger("rhone.facade.metering")

# rhone.ws.v1's `rhone.canonical` calls have no public surface.
CANONICAL_SURFACE = tpb.SURFACE_UNSPECIFIED
SURFACE_NAMES: dict[int, str] = {
    CANONICAL_SURFACE: "rhone.canonical",
    tpb.SURFACE_OPENAI_CHAT: "openai.chat",
    tpb.SURFACE_OPENAI_RESPONSES: "openai.responses",
    tpb.SURFACE_ANTHROPIC_MESSAGES: "anthropic.messages",
    tpb.SURFACE_GEMINI: "gemini",
    tpb.SURFACE_VERTEX: "vertex",
}
# The public gRPC API's Generate (docs/grpc.md): canonical events, like `rhone.canonical`, but
# a surface of its own in the usage records.
GRPC_SURFACE = "rhone.grpc"
# Token counting generates nothing: neither limited nor recorded.
UNMETERED_METHODS = frozenset({"count_tokens", "countTokens"})
TICK_S = 1.0


class LimitExceeded(RhoneError):
    """A 429 (or a fail-closed 503) with the headers the surface's SDKs read."""

    def __init__(self, failure: gen.Failure, headers: dict[str, str]) -> None:
        super().__init__(failure)
        self.headers = headers


def _now_ms() -> int:
    return int(time.time() * 1000)


class Metering:
    def __init__(
        self,
        limiter: Limiter,
        usage: UsageWriter,
        prices: PriceTable,
        *,
        fail_open: bool,
    ) -> None:
        self.limiter = limiter
        self.usage = usage
        self.prices = prices
        self.fail_open = fail_open
        self.fail_open_log = FailOpenLog()
        # The checks worked out for each Principal (by id; the Principal is kept with them, so
        # its id is not reused while they are): a socket keeps the Principal it was opened
        # with while its key's later calls may have another.
        self._plans: dict[int, tuple[Principal, LimitPlan]] = {}

    def start(self) -> None:
        self.usage.start()

    async def close(self) -> None:
        """Sends the limits what is pending, then writes every buffered usage record."""
        await self.limiter.close()
        await self.usage.close()

    async def begin(
        self,
        principal: Principal,
        *,
        surface: int | str,
        method: str,
        body: bytes = b"",
        size: int | None = None,
        params: Mapping[str, str] | None = None,
        model: str = "",
    ) -> CallMeter | None:
        """Admits the call (or raises, in the surface's terms) and returns its meter.

        `surface` is the translator's Surface of an HTTP or socket call, or the name of a
        surface the translator has none for (GRPC_SURFACE). `body` is a JSON call's body: its
        size makes the admission's token estimate, and it names the model when nothing else
        does. A call with no JSON body (a protobuf request) gives its `size` in bytes and its
        `model` instead."""
        if method in UNMETERED_METHODS:
            return None
        name = surface if isinstance(surface, str) else SURFACE_NAMES.get(surface, str(surface))
        meter = CallMeter(self, principal, name, body)
        meter.model = model or (params or {}).get("model", "")
        if principal.restricts_models:
            meter.model = meter.model or _model_in(body)
            if not principal.may_use(meter.model):
                meter.reject(model_not_found(meter.model))
        plan = self._plan_of(principal)
        if not plan.checks:
            return meter
        if plan.zero is not None:
            meter.reject(_limited(principal, plan.zero, 60_000), retry_after_ms=60_000)
        size = len(body) if size is None else size
        checks = plan.for_call(estimated_tokens=size // 4 + 1)
        try:
            admission = await self.limiter.admit(checks)
        except LimitsUnavailable as exc:
            if not self.fail_open:
                meter.reject(
                    make_failure(
                        Code.ERROR_CODE_UNAVAILABLE,
                        "Rate limits cannot be checked right now; retry shortly.",
                        detail="limits_unavailable",
                    ),
                    retry_after_ms=1000,
                )
            self.fail_open_log.record(str(exc))
            return meter
        meter.admission = admission
        if not admission.admitted:
            denied = admission.denied_by
            assert denied is not None
            if denied.metric == "budget":
                meter.reject(_over_budget(principal, denied), should_retry=False)
            meter.reject(
                _limited(principal, denied, admission.retry_after_ms),
                retry_after_ms=admission.retry_after_ms,
            )
        meter.charged_tokens = next((c.cost for c in checks if c.metric == "tokens"), 0)
        return meter

    def checks_for(self, principal: Principal, *, estimated_tokens: int) -> list[Check]:
        """The limits a call of this principal's is checked against, its token limits
        charged `estimated_tokens`."""
        return self._plan_of(principal).for_call(estimated_tokens=estimated_tokens)

    def _plan_of(self, principal: Principal) -> LimitPlan:
        """The principal's checks, worked out once for each resolution of its key (the
        Authenticator keeps a Principal for as long as the resolution holds) and again when
        the month of its budgets' keys ends."""
        cached = self._plans.get(id(principal))
        if cached is not None and cached[0] is principal:
            plan = cached[1]
            if not plan.month or plan.month == budget_month():
                return plan
        plan = LimitPlan.of(self._plan_checks(principal), month=budget_month())
        if len(self._plans) > 10_000:
            self._plans.clear()
        self._plans[id(principal)] = (principal, plan)
        return plan

    def _plan_checks(self, principal: Principal) -> list[Check]:
        resolved = principal.resolved
        checks: list[Check] = []
        scopes = (
            ("key", principal.key_id, resolved.key_limits, "key_budget_usd", "key_spent_usd"),
            (
                "tenant",
                principal.tenant_id,
                resolved.tenant_limits,
                "tenant_budget_usd",
                "tenant_spent_usd",
            ),
        )
        key = self.limiter.key
        for scope, ident, limits, budget_field, spent_field in scopes:
            if limits.HasField("requests_per_minute"):
                checks.append(
                    Check(
                        scope, "requests", key("requests", scope, ident), limits.requests_per_minute
                    )
                )
            if limits.HasField("tokens_per_minute"):
                checks.append(
                    Check(
                        scope,
                        "tokens",
                        key("tokens", scope, ident),
                        limits.tokens_per_minute,
                        need=1,
                        cost=0,  # each call's estimate (LimitPlan.for_call)
                    )
                )
            if limits.HasField("concurrent_requests"):
                checks.append(
                    Check(
                        scope,
                        "concurrent",
                        key("concurrent", scope, ident),
                        limits.concurrent_requests,
                    )
                )
            if resolved.HasField(budget_field):
                budget = int(getattr(resolved, budget_field) * MICRO)
                spent = int(getattr(resolved, spent_field) * MICRO)
                checks.append(
                    Check(scope, "budget", key("budget", scope, ident), budget, need=0, cost=spent)
                )
        return checks


@dataclass(frozen=True, slots=True)
class LimitPlan:
    """A key's checks as its resolution stands: every check but the token limits' is the same
    for each of its calls; those are charged each call's own estimate."""

    checks: list[Check]
    # Where the token limits are in `checks`.
    tokens: tuple[int, ...]
    # A limit of 0 (not a budget): every call is refused by it.
    zero: Check | None
    # The month of the budgets' keys; "" when there is no budget.
    month: str

    @classmethod
    def of(cls, checks: list[Check], *, month: str) -> LimitPlan:
        return cls(
            checks,
            tuple(i for i, check in enumerate(checks) if check.metric == "tokens"),
            next((c for c in checks if c.limit <= 0 and c.metric != "budget"), None),
            month if any(check.metric == "budget" for check in checks) else "",
        )

    def for_call(self, *, estimated_tokens: int) -> list[Check]:
        if not self.tokens:
            return self.checks
        checks = self.checks.copy()
        for index in self.tokens:
            check = checks[index]
            checks[index] = Check(
                check.scope, check.metric, check.redis_key, check.limit, cost=estimated_tokens
            )
        return checks


def _model_in(body: bytes) -> str:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    model = value.get("model") if isinstance(value, dict) else None
    return model if isinstance(model, str) else ""


def model_not_found(model: str) -> gen.Failure:
    """A model the key may not use, answered as OpenAI answers an unknown one (404
    model_not_found): the model listings give it for a model they do not show."""
    return make_failure(
        Code.ERROR_CODE_NOT_FOUND,
        f"The model '{model}' does not exist or your key does not have access to it.",
        detail="model_not_found",
        param="model",
    )


def _who(principal: Principal, check: Check) -> str:
    ident = principal.key_id if check.scope == "key" else principal.tenant_id
    return f"{check.scope} '{ident}'"


def _limited(principal: Principal, check: Check, retry_after_ms: int) -> gen.Failure:
    what = {
        "requests": "requests per minute",
        "tokens": "tokens per minute",
        "concurrent": "concurrent requests",
    }[check.metric]
    return make_failure(
        Code.ERROR_CODE_RATE_LIMITED,
        f"Rate limit reached for {_who(principal, check)}: {check.limit} {what}. "
        f"Retry in {go_duration(retry_after_ms)}.",
        detail="rate_limit_exceeded",
        retry_after_ms=retry_after_ms,
    )


def _over_budget(principal: Principal, check: Check) -> gen.Failure:
    month = datetime.now(UTC)
    resets = (month.replace(day=28) + (month.replace(day=28) - month.replace(day=1))).replace(day=1)
    return make_failure(
        Code.ERROR_CODE_RATE_LIMITED,
        f"The monthly budget of {_who(principal, check)} (${check.limit / MICRO:.2f}) is spent; "
        f"it renews on {resets:%Y-%m-%d} (UTC).",
        detail="insufficient_quota",
        retryable=False,
    )


class EventTally:
    """Folds a canonical event stream into the trailer a translator Call would have sent, for
    calls that do not go through Call (`rhone.canonical`, the public gRPC API's Generate).

    `first_call`: the request named no session. The session its translator Generate announces
    is created only when its turn is committed, which happens before `finished` is passed on
    (docs/architecture.md, "Continuity"): a first call that did not finish (failed, cut off,
    cancelled) names no session in its record."""

    def __init__(self, *, first_call: bool) -> None:
        self.started = time.monotonic()
        self.trailer = tpb.CallTrailer()
        self.finished = False
        self.first_call = first_call

    def feed(self, event: gen.GenerationEvent) -> None:
        trailer = self.trailer
        if not trailer.ttft_ms:
            trailer.ttft_ms = max(1, int((time.monotonic() - self.started) * 1000))
        kind = event.WhichOneof("event")
        if kind == "started":
            trailer.model, trailer.provider = event.started.model, event.started.provider
        elif kind == "usage":
            trailer.usage.CopyFrom(event.usage)
        elif kind == "failure":
            trailer.failure.CopyFrom(event.failure)
        elif kind == "finished":
            self.finished = True

    def existing_session(self, announced: str) -> str:
        """The session the call's record names: the announced one, once it exists."""
        return "" if self.first_call and not self.finished else announced

    def frame(self, session_id: str) -> tpb.CallFrame:
        self.trailer.session_id = self.existing_session(session_id)
        return tpb.CallFrame(trailer=self.trailer)

    def settle(
        self,
        meter: CallMeter | None,
        session_id: str,
        *,
        ended: bool,
        failure: gen.Failure | None = None,
    ) -> None:
        """Ends the call's meter. A stream that ended (however) hands over its trailer, and
        one that ended with neither `finished` nor a failure was cut off: `failure` when the
        caller knows how, else stream_interrupted. A stream that did not end was cancelled.
        `session_id` is the one the translator announced."""
        if meter is None:
            return
        if not ended:
            meter.session_id = meter.session_id or self.existing_session(session_id)
            meter.on_end(cancelled=True)
            return
        meter.on_frame(self.frame(session_id))
        if failure is None and not self.finished and not self.trailer.HasField("failure"):
            failure = INTERRUPTED
        meter.on_end(failure=failure)


class CallMeter:
    """One call's metering (a relay CallObserver)."""

    def __init__(self, metering: Metering, principal: Principal, surface: str, body: bytes) -> None:
        self.metering = metering
        # Read for the model name only when a record needs it and nothing else said it.
        self._body = body
        self.principal = principal
        self.surface = surface
        self.model = ""
        self.admission: Admission | None = None
        self.started = time.monotonic()
        self.started_ms = _now_ms()
        self.charged_tokens = 0
        self._frames = 0
        self._last_tick = self.started
        self._status = 0
        self._error_code = ""
        self.session_id = ""
        self._trailer: tpb.CallTrailer | None = None
        self._ended = False

    @property
    def checks(self) -> list[Check]:
        return self.admission.checks if self.admission is not None else []

    def reject(
        self, failure: gen.Failure, *, retry_after_ms: int = 0, should_retry: bool = True
    ) -> None:
        """Ends the call before it starts: records it and raises the surface's error."""
        headers = rate_limit_headers(self.surface, self.admission.states if self.admission else [])
        if retry_after_ms:
            headers.update(retry_headers(retry_after_ms))
        if not should_retry:
            headers["x-should-retry"] = "false"
        if failure.detail:
            headers["x-rhone-error-code"] = failure.detail
        self.admission = None  # nothing was charged
        self.on_end(failure=failure)
        raise LimitExceeded(failure, headers)

    # CallObserver

    def limit_headers(self) -> dict[str, str]:
        """Where the key's limits stand, as headers the surface's SDKs read."""
        return rate_limit_headers(self.surface, self.admission.states) if self.admission else {}

    def on_head(self, head: tpb.CallHead) -> dict[str, str]:
        self._status = head.status
        self._error_code = head.headers.get("x-rhone-error-code", "")
        self.session_id = head.headers.get("x-rhone-session-id", "")
        return self.limit_headers()

    def on_frame(self, frame: tpb.CallFrame) -> None:
        if frame.HasField("trailer"):
            self._trailer = frame.trailer
            return
        if not any(check.metric == "tokens" for check in self.checks):
            return
        self._frames += 1
        now = time.monotonic()
        if now - self._last_tick >= TICK_S:
            self._last_tick = now
            self.charged_tokens += self._frames
            self._charge({"tokens": self._frames}, release=False)
            self._frames = 0

    def on_end(self, *, failure: gen.Failure | None = None, cancelled: bool = False) -> None:
        if self._ended:
            return
        self._ended = True
        record = self._record(failure, cancelled)
        self.metering.usage.add(record)
        # A requests-per-minute limit is settled at admission; the others need the end.
        if any(check.metric != "requests" for check in self.checks):
            deltas = {"budget": int(record.cost_usd * MICRO)}
            if self._trailer is not None:
                used = self._trailer.usage.input_tokens + self._trailer.usage.output_tokens
                deltas["tokens"] = used - self.charged_tokens
            self._charge(deltas, release=True)

    def _charge(self, deltas: dict[str, int], *, release: bool) -> None:
        admission = self.admission
        assert admission is not None
        self.metering.limiter.settle(admission, deltas, release=release)

    def _record(self, failure: gen.Failure | None, cancelled: bool) -> tnpb.UsageRecord:
        trailer = self._trailer
        record = tnpb.UsageRecord(
            id="use_" + secrets.token_hex(12),
            tenant_id=self.principal.tenant_id,
            key_id=self.principal.key_id,
            # The trailer's, once read: a first call's session exists only if its turn was
            # committed, though its head named it.
            session_id=trailer.session_id if trailer is not None else self.session_id,
            surface=self.surface,
            model=(trailer.model if trailer and trailer.model else self.model)
            or _model_in(self._body),
            latency_ms=int((time.monotonic() - self.started) * 1000),
            created_at_ms=self.started_ms,
            status=tnpb.USAGE_STATUS_COMPLETED,
            http_status=self._status,
        )
        if trailer is not None:
            record.provider = trailer.provider
            record.usage.CopyFrom(trailer.usage)
            record.ttft_ms = trailer.ttft_ms
            record.cost_usd = self.metering.prices.cost(record.model, trailer.usage)
            failure = failure or (trailer.failure if trailer.HasField("failure") else None)
        if cancelled and trailer is None:
            # (With the trailer read, the call had ended: a client that hung up on its last
            # bytes did not cancel anything.)
            record.status = tnpb.USAGE_STATUS_CANCELLED
            record.http_status = record.http_status or 499
            record.error_code = "cancelled"
        elif failure is not None:
            record.status = tnpb.USAGE_STATUS_FAILED
            if not record.http_status or record.http_status < 400:
                record.http_status = http_status_of(failure)
            record.error_code = failure.detail or self._error_code or "failed"
        elif self._status >= 400:
            record.status = tnpb.USAGE_STATUS_FAILED
            record.error_code = self._error_code or "failed"
        return record
