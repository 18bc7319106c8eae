"""The rate-limit headers each surface's SDKs read, from where the limits stand (pure).

OpenAI: x-ratelimit-{limit,remaining,reset}-{requests,tokens}, resets as Go-style durations
("1s", "6m0s", "120ms"), https://platform.openai.com/docs/guides/rate-limits. Anthropic:
anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}, resets as RFC 3339 times,
https://docs.anthropic.com/en/api/rate-limits. The public gRPC API (rhone.grpc) sends
OpenAI's names as metadata (docs/grpc.md). Every surface: retry-after (seconds) and
retry-after-ms on a 429, which the OpenAI and Anthropic SDKs honour when they retry."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from services.facade.limit_checks import LimitState

OPENAI_SURFACES = frozenset({"openai.chat", "openai.responses", "rhone.grpc"})
ANTHROPIC_SURFACES = frozenset({"anthropic.messages"})


def go_duration(ms: int) -> str:
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    text = f"{seconds}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return text


def _rfc3339(ms_from_now: int) -> str:
    at = datetime.fromtimestamp(time.time() + ms_from_now / 1000, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def tightest(states: list[LimitState], metric: str) -> LimitState | None:
    """Of the key's and the tenant's limit on a metric, the one with the least left (of two
    with as much left, the one that resets later)."""
    best: LimitState | None = None
    for state in states:
        if state.check.metric != metric:
            continue
        if best is None or (state.remaining, -state.reset_ms) < (best.remaining, -best.reset_ms):
            best = state
    return best


# Each surface's header names for a metric: limit, remaining, reset; and how a reset is told.
_NAMES = {
    "openai": {
        m: tuple(f"x-ratelimit-{n}-{m}" for n in ("limit", "remaining", "reset"))
        for m in ("requests", "tokens")
    },
    "anthropic": {
        m: tuple(f"anthropic-ratelimit-{m}-{n}" for n in ("limit", "remaining", "reset"))
        for m in ("requests", "tokens")
    },
}


def rate_limit_headers(surface: str, states: list[LimitState]) -> dict[str, str]:
    reset: Callable[[int], str]
    if surface in OPENAI_SURFACES:
        names, reset = _NAMES["openai"], go_duration
    elif surface in ANTHROPIC_SURFACES:
        names, reset = _NAMES["anthropic"], _rfc3339
    else:
        return {}
    headers: dict[str, str] = {}
    for metric, (limit, remaining, resets) in names.items():
        state = tightest(states, metric)
        if state is not None:
            headers[limit] = str(state.check.limit)
            headers[remaining] = str(state.remaining)
            headers[resets] = reset(state.reset_ms)
    return headers


def retry_headers(retry_after_ms: int) -> dict[str, str]:
    return {
        "retry-after": str(max(1, math.ceil(retry_after_ms / 1000))),
        "retry-after-ms": str(max(1, retry_after_ms)),
    }
