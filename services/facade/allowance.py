"""Blocks of a limit's allowance, drawn from Redis ahead of the calls that use them, so that a
call under a roomy limit is admitted and settled without a Redis round trip (docs/tenants.md,
"Blocks").

A replica asks Redis for a block per limit (one script for all of a call's limits, never on a
call's path): a rate limit's block is units charged to it in Redis at once (up to `block_ms`
of the limit's rate, at most BLOCK_CALLS requests), a concurrency limit's block is slots held
in its set (at most BLOCK_CALLS, at most 1/64 of the limit). Calls then take from the blocks
here; real token use is added to or given back to the block, a released slot goes back to its
block. What a block did not use is given back to Redis when it ends (`LIFE_S` after its last
grant, and at most half of RHONE_LIMITS_LEASE_S after its first, so that no slot it lends
outlives its lease in Redis) and when the replica stops.

Redis grants blocks only while every limit of the call is less than half used (ROOM), so a
limit near its end is checked call by call, as without blocks. Blocks never let more through
than the limit: their units are charged before they are used. What they can do is refuse a
call on one replica while another still holds unused units, for at most LIFE_S after the
limit passed half, and by at most one block per replica. Limits too small for a block of two
calls (under 1,200 requests per minute with the default 100 ms), budgets, and calls whose
limits changed are always checked in Redis."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from services.facade.limit_checks import Admission, Check, LimitState
from services.facade.redis_batch import Script, ScriptBatches

log = logging.getLogger("rhone.facade.limits")

BLOCK_CALLS = 64
TOKEN_BLOCK_CAP = BLOCK_CALLS * 4096
ROOM = 0.5
LIFE_S = 1.0
# After Redis refused a block (a limit past half) or failed, the calls of those limits go to
# Redis one by one for this long before a block is asked for again.
COOL_S = 1.0

# KEYS: one per limit. ARGV: slot name prefix, lease ms, first slot number, ROOM, then per
# limit: kind, limit, size. Grants every block, or none when a limit is past ROOM. Replies
# {granted, then per limit: remaining, reset ms} (the state with the blocks charged).
GRANT = Script(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner, ttl, seq, room = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {1}
local plan = {}
for i = 1, #KEYS do
  local b = 4 + (i - 1) * 3
  local kind, limit, size = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local remaining, reset = 0, 0
  if kind == 'rate' then
    local interval = 60000 / limit
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    plan[i] = tat + size * interval
    if plan[i] - now > 60000 * room then out[1] = 0 end
    remaining = math.max(0, math.floor((60000 - (plan[i] - now)) / interval + 0.001))
    reset = math.ceil(plan[i] - now)
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local count = redis.call('ZCARD', KEYS[i]) + size
    if count > limit * room then out[1] = 0 end
    remaining = math.max(0, limit - count)
  end
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
if out[1] == 1 then
  for i = 1, #KEYS do
    local b = 4 + (i - 1) * 3
    local kind, size = ARGV[b + 1], tonumber(ARGV[b + 3])
    if kind == 'rate' then
      redis.call('SET', KEYS[i], string.format('%.3f', plan[i]), 'PX',
        math.ceil(plan[i] - now) + 1000)
    else
      for j = 1, size do
        redis.call('ZADD', KEYS[i], now + ttl, owner .. (seq + j))
      end
      seq = seq + size
      redis.call('PEXPIRE', KEYS[i], ttl * 2)
    end
  end
end
return out
"""
)

# KEYS: one per entry. ARGV: per entry: kind, limit, units (a rate: added, negative to give
# back), slot names separated by spaces (a concurrency limit: removed from its set).
RETURN = Script(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local kind, limit, units = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  if kind == 'rate' and units ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    tat = math.max(now, tat + units * 60000 / limit)
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
  elseif kind == 'conc' then
    for name in string.gmatch(ARGV[b + 4], '%S+') do
      redis.call('ZREM', KEYS[i], name)
    end
  end
end
return 1
"""
)


def block_size(check: Check, block_ms: int) -> int:
    """What one grant holds for this limit here; 0: every call asks Redis."""
    if check.kind == "rate":
        cap = BLOCK_CALLS if check.metric == "requests" else TOKEN_BLOCK_CAP
        size = min(check.limit * block_ms // 60_000, cap)
        return size if size >= 2 else 0
    if check.kind == "conc":
        size = min(BLOCK_CALLS, check.limit // 64)
        return size if size >= 2 else 0
    return 0


@dataclass(slots=True)
class Block:
    """One limit's allowance held here: units charged in Redis and not yet used (a rate), or
    slots held in Redis and free (a concurrency limit)."""

    check: Check
    size: int
    units: int = 0
    free: list[str] = field(default_factory=list)
    # Where the limit stood in Redis at the last grant (blocks charged), for the headers.
    remaining: int = 0
    reset_ms: int = 0
    ends: float = 0.0
    # When its first grant came, and every slot name it was lent (free or lent out): a block
    # lives at most half a lease, so that no slot outlives its lease in Redis while it is used.
    born: float = field(default_factory=time.monotonic)
    names: set[str] = field(default_factory=set)

    def fits(self, check: Check) -> bool:
        if check.kind == "rate":
            return self.units >= check.cost
        return bool(self.free)

    def low(self) -> bool:
        held = self.units if self.check.kind == "rate" else len(self.free)
        return held * 2 <= self.size

    def state(self, check: Check) -> LimitState:
        held = self.units if check.kind == "rate" else len(self.free)
        return LimitState(check, self.remaining + held, self.reset_ms)


@dataclass(slots=True)
class _Owed:
    """What goes back to Redis with the next sweep: rate units (signed) and released slots."""

    check: Check
    units: int = 0
    slots: list[str] = field(default_factory=list)


class Allowances:
    def __init__(self, scripts: ScriptBatches, *, lease_ms: int, block_ms: int) -> None:
        self._scripts = scripts
        self._lease_ms = lease_ms
        self._block_ms = block_ms
        # Slot names: this replica's own prefix, then a number never used twice.
        self._owner = "blk-" + secrets.token_hex(6) + "-"
        self._seq = 0
        self._blocks: dict[str, Block] = {}
        self._owed: dict[str, _Owed] = {}
        self._sizes: dict[tuple[tuple[str, int], ...], list[int] | None] = {}
        self._granting: dict[tuple[str, ...], asyncio.Future[Any]] = {}
        self._cool: dict[tuple[str, ...], float] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def take(self, checks: list[Check]) -> Admission | None:
        """The call admitted from the blocks held here, or None: ask Redis, then `draw`."""
        if self._block_ms <= 0:
            return None
        sizes = self._sizes_of(checks)
        if sizes is None:
            return None
        now = time.monotonic()
        blocks = self._blocks
        held: list[Block] = []
        for check in checks:
            block = blocks.get(check.redis_key)
            if block is None or block.ends <= now or block.check.limit != check.limit:
                if block is not None:
                    self._end(block)
                return None
            if not block.fits(check):
                return None
            held.append(block)
        slots: dict[str, str] = {}
        low = False
        for check, block in zip(checks, held, strict=True):
            if check.kind == "rate":
                block.units -= check.cost
            else:
                slots[check.redis_key] = block.free.pop()
            low = low or block.low()
        if low:
            self._grant(checks, sizes)
        return Admission(
            admitted=True,
            checks=checks,
            states=[block.state(check) for check, block in zip(checks, held, strict=True)],
            slots=slots,
        )

    def draw(self, checks: list[Check]) -> None:
        """Asks Redis for blocks of these limits, in the background, when they can have them
        (after a call that `take` could not admit went to Redis, so that its own state does not
        count the block)."""
        if self._block_ms > 0 and (sizes := self._sizes_of(checks)) is not None:
            self._grant(checks, sizes)

    def settle(self, admission: Admission, deltas: dict[str, int], *, release: bool) -> None:
        """A call admitted here used `deltas[metric]` more (or, negative, less) than charged;
        `release`: it ended, its slots are free."""
        slots = admission.slots
        assert slots is not None
        now = time.monotonic()
        for check in admission.checks:
            block = self._blocks.get(check.redis_key)
            alive = block is not None and block.ends > now and block.check.limit == check.limit
            if check.kind == "rate":
                delta = deltas.get(check.metric, 0)
                if not delta:
                    continue
                if alive and block is not None and block.units >= delta:
                    block.units -= delta  # (a negative delta gives units back to the block)
                else:
                    self._owe(check).units += delta
            elif check.kind == "conc" and release:
                slot = slots[check.redis_key]
                if alive and block is not None and slot in block.names:
                    block.free.append(slot)
                else:
                    self._owe(check).slots.append(slot)
        if self._owed:
            self._arm()

    async def close(self) -> None:
        """Gives back every block's unused units and free slots (the caller then flushes)."""
        if self._granting:  # (what they grant is given back with the rest)
            await asyncio.gather(*self._granting.values(), return_exceptions=True)
            await asyncio.sleep(0)  # (their callbacks run)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for block in list(self._blocks.values()):
            self._end(block)
        self._send_owed()

    # Grants

    def _sizes_of(self, checks: list[Check]) -> list[int] | None:
        signature = tuple((check.redis_key, check.limit) for check in checks)
        sizes = self._sizes.get(signature, [])
        if sizes == []:
            every = [block_size(check, self._block_ms) for check in checks]
            sizes = every if all(every) else None
            if len(self._sizes) > 10_000:
                self._sizes.clear()
            self._sizes[signature] = sizes
        return sizes

    def _grant(self, checks: list[Check], sizes: list[int]) -> None:
        keys = tuple(check.redis_key for check in checks)
        if keys in self._granting:
            return
        if (cool := self._cool.get(keys)) is not None:
            if cool > time.monotonic():
                return
            del self._cool[keys]
        first = self._seq
        args: list[str | int] = [self._owner, self._lease_ms, first, str(ROOM)]
        for check, size in zip(checks, sizes, strict=True):
            args += [check.kind, check.limit, size]
            if check.kind == "conc":
                self._seq += size
        granted = self._granting[keys] = self._scripts.submit(GRANT, list(keys), args)
        granted.add_done_callback(lambda reply: self._granted(reply, keys, checks, sizes, first))

    def _granted(
        self,
        reply: asyncio.Future[Any],
        keys: tuple[str, ...],
        checks: list[Check],
        sizes: list[int],
        first: int,
    ) -> None:
        self._granting.pop(keys, None)
        if reply.cancelled() or reply.exception() is not None:
            if not reply.cancelled():
                log.debug("no block granted: %r", reply.exception())
            self._cool[keys] = time.monotonic() + COOL_S
            return
        out = reply.result()
        if int(out[0]) != 1:
            self._cool[keys] = time.monotonic() + COOL_S
            return
        now = time.monotonic()
        half = self._lease_ms / 2000
        seq = first
        for index, (check, size) in enumerate(zip(checks, sizes, strict=True)):
            block = self._blocks.get(check.redis_key)
            if block is None or block.check.limit != check.limit or block.born + half <= now:
                if block is not None:
                    self._end(block)
                block = self._blocks[check.redis_key] = Block(check, size)
            if check.kind == "rate":
                block.units += size
            else:
                names = [f"{self._owner}{seq + j}" for j in range(1, size + 1)]
                block.free += names
                block.names.update(names)
                seq += size
            block.remaining = int(out[1 + 2 * index])
            block.reset_ms = int(out[2 + 2 * index])
            block.ends = min(now + LIFE_S, block.born + half)
        self._arm()

    # Giving back

    def _owe(self, check: Check) -> _Owed:
        owed = self._owed.get(check.redis_key)
        if owed is None or owed.check.limit != check.limit:
            if owed is not None:
                self._send_owed()
            owed = self._owed[check.redis_key] = _Owed(check)
        return owed

    def _end(self, block: Block) -> None:
        """Ends a block: its unused units and free slots are owed back to Redis."""
        if self._blocks.get(block.check.redis_key) is block:
            del self._blocks[block.check.redis_key]
        owed = self._owe(block.check)
        owed.units -= block.units
        owed.slots += block.free
        block.units, block.free = 0, []

    def _arm(self) -> None:
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(LIFE_S / 2, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        for block in [b for b in self._blocks.values() if b.ends <= now]:
            self._end(block)
        self._send_owed()
        if self._blocks:
            self._arm()

    def _send_owed(self) -> None:
        owed = [o for o in self._owed.values() if o.units or o.slots]
        self._owed = {}
        if not owed:
            return
        args: list[str | int] = []
        for entry in owed:
            args += [entry.check.kind, entry.check.limit, entry.units, " ".join(entry.slots)]
        sent = self._scripts.submit(RETURN, [entry.check.redis_key for entry in owed], args)
        sent.add_done_callback(_log_return_failure)


def _log_return_failure(sent: asyncio.Future[Any]) -> None:
    if not sent.cancelled() and sent.exception() is not None:
        log.warning("could not give a block's unused allowance back: %r", sent.exception())
