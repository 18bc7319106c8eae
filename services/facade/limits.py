"""Limits shared by every facade replica, kept in Redis: requests and tokens per minute,
concurrent requests and monthly budgets, per key and per tenant (docs/tenants.md).

One Lua script admits a call: it checks every limit that applies and, only when all pass,
charges them all, atomically (no read-then-write race between replicas). Rates use GCRA (a
theoretical arrival time per limit, so a limit of N per minute lets N through at once and
one more every 60/N s after: exact, one number per limit). Concurrency is a sorted set of
leases with an end, so a replica that dies does not hold slots for ever. Another script
charges what a call used while it streams and once it ends (real tokens replace the estimate,
and the lease is given back). The clock is Redis's own, the same for every replica.

A roomy limit is drawn from Redis in blocks ahead of its calls (services/facade/allowance.py):
its calls are admitted and settled in the replica, with no round trip.

Redis unreachable: RHONE_LIMITS_FAIL_OPEN chooses between admitting the call (logged and
counted) and a 503; short socket timeouts and no retries mean never a hang."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from services.facade.allowance import Allowances
from services.facade.limit_checks import Admission, Check, LimitState
from services.facade.redis_batch import Script, ScriptBatches, ScriptError

log = logging.getLogger("rhone.facade.limits")

_BUDGET_TTL_MS = 40 * 86_400_000
MICRO = 1_000_000

# KEYS: one per check. ARGV: lease id, lease ms, then per check: kind, limit, need, cost.
_ADMIT = Script(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, ttl = ARGV[1], tonumber(ARGV[2])
local out = {1, 0, 0}
local plan = {}
for i = 1, #KEYS do
  local b = 2 + (i - 1) * 4
  local kind, limit = ARGV[b + 1], tonumber(ARGV[b + 2])
  local need, cost = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local ok, remaining, reset, retry = true, 0, 0, 0
  if kind == 'rate' then
    local interval = 60000 / limit
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local used = tat - now
    ok = used + need * interval <= 60000 + 0.001
    if ok then
      plan[i] = tat + cost * interval
      used = plan[i] - now
    else
      retry = used + need * interval - 60000
    end
    remaining = math.max(0, math.floor((60000 - used) / interval + 0.001))
    reset = used
  elseif kind == 'conc' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local count = redis.call('ZCARD', KEYS[i])
    ok = count + 1 <= limit
    remaining = math.max(0, limit - count - (ok and 1 or 0))
    if not ok then retry = 1000 end
  else
    local spent = tonumber(redis.call('GET', KEYS[i]) or -1)
    if spent < 0 then
      spent = cost
      plan[i] = cost
    end
    ok = spent < limit
    remaining = math.max(0, limit - spent)
    if not ok then retry = 0 end
  end
  out[#out + 1] = math.floor(remaining)
  out[#out + 1] = math.ceil(reset)
  if not ok and out[1] == 1 then
    out[1], out[2], out[3] = 0, i, math.ceil(retry)
  end
end
if out[1] == 1 then
  for i = 1, #KEYS do
    local kind = ARGV[2 + (i - 1) * 4 + 1]
    if kind == 'rate' then
      redis.call('SET', KEYS[i], string.format('%.3f', plan[i]), 'PX',
        math.ceil(plan[i] - now) + 1000)
    elseif kind == 'conc' then
      redis.call('ZADD', KEYS[i], now + ttl, lease)
      redis.call('PEXPIRE', KEYS[i], ttl * 2)
    elseif plan[i] then
      redis.call('SET', KEYS[i], plan[i], 'PX', BUDGET_TTL_MS, 'NX')
    end
  end
end
return out
""".replace("BUDGET_TTL_MS", str(_BUDGET_TTL_MS))
)

# KEYS: one per check. ARGV: lease id, lease ms, release (0/1), then per check: kind, limit,
# delta (tokens for a rate, micro-USD for a budget).
_CHARGE = Script(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease, ttl, release = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
for i = 1, #KEYS do
  local b = 3 + (i - 1) * 3
  local kind, limit, delta = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  if kind == 'rate' and delta ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    tat = math.max(now, tat + delta * 60000 / limit)
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
  elseif kind == 'conc' then
    if release then
      redis.call('ZREM', KEYS[i], lease)
    else
      redis.call('ZADD', KEYS[i], 'XX', now + ttl, lease)
    end
  elseif kind == 'budget' and delta ~= 0 then
    redis.call('INCRBY', KEYS[i], delta)
    redis.call('PEXPIRE', KEYS[i], BUDGET_TTL_MS)
  end
end
return 1
""".replace("BUDGET_TTL_MS", str(_BUDGET_TTL_MS))
)


class LimitsUnavailable(Exception):
    """Redis did not answer in time (or at all)."""


def budget_month() -> str:
    """The month (UTC) a budget's key counts: a budget renews each month."""
    return datetime.now(UTC).strftime("%Y%m")


class Limiter:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout_s: float,
        lease_s: float,
        block_ms: int = 0,
        client_name: str = "rhone-limits",
    ) -> None:
        """`block_ms`: how much of a roomy limit's rate a replica draws ahead as a block
        (services/facade/allowance.py); 0: every call asks Redis."""
        self.prefix = prefix
        self.lease_ms = int(lease_s * 1000)
        # `client_name`: what CLIENT LIST shows an operator for the connection.
        self._scripts = ScriptBatches(url, timeout_s=timeout_s, client_name=client_name)
        self._blocks = Allowances(self._scripts, lease_ms=self.lease_ms, block_ms=block_ms)

    def key(self, metric: str, scope: str, ident: str) -> str:
        if metric == "budget":
            return f"{self.prefix}:budget:{scope}:{ident}:{budget_month()}"
        return f"{self.prefix}:{metric}:{scope}:{ident}"

    async def admit(self, checks: list[Check]) -> Admission:
        taken = self._blocks.take(checks)
        if taken is not None:
            return taken
        lease_id = secrets.token_hex(8)
        args: list[str | int] = [lease_id, self.lease_ms]
        for check in checks:
            args += [check.kind, check.limit, check.need, check.cost]
        pending = self._scripts.submit(_ADMIT, [c.redis_key for c in checks], args)
        self._blocks.draw(checks)
        reply = await self._run(pending)
        states = [
            LimitState(check, int(reply[3 + 2 * i]), int(reply[4 + 2 * i]))
            for i, check in enumerate(checks)
        ]
        admitted = int(reply[0]) == 1
        return Admission(
            admitted=admitted,
            checks=checks,
            states=states,
            denied_by=None if admitted else checks[int(reply[1]) - 1],
            retry_after_ms=int(reply[2]),
            lease_id=lease_id,
        )

    def charge(
        self, checks: list[Check], lease_id: str, deltas: dict[str, int], *, release: bool
    ) -> asyncio.Future[Any]:
        """Adds `deltas[metric]` to each check of that metric (tokens, budget), and refreshes
        or gives back the call's concurrency lease: sent with the next batch, never awaited on
        a call's path (a failure is logged). `close()` sends what is still pending."""
        args: list[str | int] = [lease_id, self.lease_ms, 1 if release else 0]
        for check in checks:
            args += [check.kind, check.limit, deltas.get(check.metric, 0)]
        charged = self._scripts.submit(_CHARGE, [c.redis_key for c in checks], args)
        charged.add_done_callback(_log_charge_failure)
        return charged

    def settle(self, admission: Admission, deltas: dict[str, int], *, release: bool) -> None:
        """`charge` for an admitted call, wherever it was admitted: from this replica's blocks
        (no Redis round trip) or by Redis."""
        if admission.slots is not None:
            self._blocks.settle(admission, deltas, release=release)
        else:
            self.charge(admission.checks, admission.lease_id, deltas, release=release)

    async def _run(self, pending: asyncio.Future[Any]) -> Any:
        try:
            return await pending
        except (ScriptError, OSError, TimeoutError) as exc:
            raise LimitsUnavailable(repr(exc)) from None

    async def close(self) -> None:
        await self._blocks.close()
        await self._scripts.close()


def _log_charge_failure(charged: asyncio.Future[Any]) -> None:
    if not charged.cancelled() and charged.exception() is not None:
        log.warning("could not charge a call's usage to its limits: %r", charged.exception())


class FailOpenLog:
    """Counts calls let through without their limits checked; logs at most every 10 s."""

    def __init__(self) -> None:
        self.count = 0
        self._logged_at = 0.0

    def record(self, reason: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._logged_at >= 10:
            self._logged_at = now
            log.warning(
                "limits not enforced (Redis unreachable: %s); %d call(s) let through so far",
                reason,
                self.count,
            )
