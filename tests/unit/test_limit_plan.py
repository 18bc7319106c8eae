"""A key's checks are worked out once per resolution of the key (services/facade/metering.py,
LimitPlan): what each call is checked against must still follow the key as it stands, the
call's own token estimate, and the month its budget counts."""

from __future__ import annotations

import pytest

from rhone.pricing import PriceTable
from rhone.v1 import tenancy_pb2 as tpb
from services.facade import limits, metering
from services.facade.auth import Principal
from services.facade.limits import Limiter
from services.facade.metering import Metering
from services.facade.usage_writer import UsageWriter


def _metering() -> Metering:
    # Nothing here reaches Redis or the sessions service: only the checks are looked at.
    limiter = Limiter("redis://127.0.0.1:1/0", prefix="plan", timeout_s=0.1, lease_s=60)
    return Metering(limiter, UsageWriter(None, 60), PriceTable(), fail_open=False)  # type: ignore[arg-type]


def _principal(requests: int, tokens: int, budget: float | None = None) -> Principal:
    resolved = tpb.ResolvedKey(tenant_id="acme", key_id="key_1")
    resolved.key_limits.requests_per_minute = requests
    resolved.key_limits.tokens_per_minute = tokens
    if budget is not None:
        resolved.key_budget_usd = budget
        resolved.key_spent_usd = 1.5
    return Principal("acme", "key_1", resolved)


def _summary(checks: list[limits.Check]) -> list[tuple[str, str, int, int]]:
    return [(c.metric, c.redis_key, c.limit, c.cost) for c in checks]


def test_each_call_charges_its_own_token_estimate() -> None:
    meter = _metering()
    principal = _principal(100, 5_000)
    small = meter.checks_for(principal, estimated_tokens=10)
    large = meter.checks_for(principal, estimated_tokens=900)
    assert _summary(small) == [
        ("requests", "plan:requests:key:key_1", 100, 1),
        ("tokens", "plan:tokens:key:key_1", 5_000, 10),
    ]
    assert _summary(large)[1] == ("tokens", "plan:tokens:key:key_1", 5_000, 900)
    assert _summary(small)[1][3] == 10  # the first call's list was not changed by the second


def test_a_key_resolved_again_with_new_limits_is_checked_against_them() -> None:
    meter = _metering()
    before = meter.checks_for(_principal(100, 5_000), estimated_tokens=10)
    after = meter.checks_for(_principal(7, 50), estimated_tokens=10)
    assert [c.limit for c in before] == [100, 5_000]
    assert [c.limit for c in after] == [7, 50]


def test_a_budget_counts_in_the_month_of_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    meter = _metering()
    principal = _principal(100, 5_000, budget=20.0)
    for module in (limits, metering):
        monkeypatch.setattr(module, "budget_month", lambda: "202611")
    [november] = [
        c for c in meter.checks_for(principal, estimated_tokens=1) if c.metric == "budget"
    ]
    for module in (limits, metering):
        monkeypatch.setattr(module, "budget_month", lambda: "202612")
    [december] = [
        c for c in meter.checks_for(principal, estimated_tokens=1) if c.metric == "budget"
    ]
    assert november.redis_key == "plan:budget:key:key_1:202611"
    assert december.redis_key == "plan:budget:key:key_1:202612"
    assert (december.limit, december.cost) == (20_000_000, 1_500_000)


async def test_a_limit_of_zero_refuses_every_call() -> None:
    meter = _metering()
    principal = _principal(0, 5_000)
    for _ in range(2):
        with pytest.raises(metering.LimitExceeded) as refused:
            await meter.begin(principal, surface="rhone.grpc", method="generate", size=10)
        assert refused.value.failure.detail == "rate_limit_exceeded"
        assert refused.value.headers["retry-after"] == "60"
