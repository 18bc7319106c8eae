"""What a call is checked against (a Check per limit that applies to it) and what admission
answers (services/facade/limits.py, services/facade/allowance.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

_KINDS = {"requests": "rate", "tokens": "rate", "concurrent": "conc"}


@dataclass(frozen=True, slots=True)
class Check:
    """One limit on one call: `scope` is "key" or "tenant", `metric` is requests, tokens,
    concurrent or budget (micro-USD)."""

    scope: str
    metric: str
    redis_key: str
    limit: int
    # What must fit to be admitted, what admission charges (a budget's seed: spent so far).
    need: int = 1
    cost: int = 1
    # "rate", "conc" or "budget": how the limit is kept (read about 15 times a call, so
    # worked out once).
    kind: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _KINDS.get(self.metric, "budget"))


@dataclass(frozen=True, slots=True)
class LimitState:
    """Where a limit stands after admission: for the rate-limit headers."""

    check: Check
    remaining: int
    reset_ms: int


@dataclass(slots=True)
class Admission:
    admitted: bool
    checks: list[Check]
    states: list[LimitState] = field(default_factory=list)
    # The limit that refused, and when to retry.
    denied_by: Check | None = None
    retry_after_ms: int = 0
    lease_id: str = ""
    # Redis was unreachable and the call was let through (fail-open).
    unchecked: bool = False
    # Admitted from this replica's blocks (services/facade/allowance.py), with no Redis round
    # trip: the slot each concurrency limit's block lent it.
    slots: dict[str, str] | None = None
