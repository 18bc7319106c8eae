"""Blocks of a roomy limit's allowance (services/facade/allowance.py) on a real Redis: calls
taken from a block skip Redis, and what Redis holds in the end is what calls used, the same as
when every call asks Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from services.facade import allowance
from services.facade.limit_checks import Admission, Check
from services.facade.limits import Limiter

REDIS = "redis://127.0.0.1:6379/0"


def _limiter(prefix: str, *, block_ms: int) -> Limiter:
    return Limiter(REDIS, prefix=prefix, timeout_s=1.0, lease_s=600, block_ms=block_ms)


@pytest.fixture
async def prefix() -> str:
    return "rhone-test-blocks-" + secrets.token_hex(6)


@pytest.fixture
async def store() -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(REDIS)
    try:
        yield client
    finally:
        await client.aclose()


async def _redis_ms(store: redis.asyncio.Redis) -> float:
    seconds, micros = await store.time()
    return float(seconds * 1000 + micros / 1000)


async def _charged_ms(store: redis.asyncio.Redis, key: str, since: float) -> float:
    """How far a rate limit's theoretical arrival time is past `since` (Redis's clock): what
    the calls charged, when its first charge was at `since` and it never fell behind. (The
    scripts read the clock to the millisecond, `since` is finer: up to 1 ms more.)"""
    tat = await store.get(key)
    return float(tat) - since + 1


async def _until(condition: Callable[[], bool], within_s: float = 2.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def _granted(limiter: Limiter, checks: list[Check]) -> Admission:
    """Admits one call (by Redis), then waits for the block it asked for."""
    first = await limiter.admit(checks)
    assert first.admitted and first.slots is None
    blocks = limiter._blocks._blocks
    await _until(lambda: all(check.redis_key in blocks for check in checks))
    return first


async def test_a_roomy_limit_admits_from_its_block_and_charges_what_calls_used(
    prefix: str, store: redis.asyncio.Redis
) -> None:
    # 1,200 a minute: one every 50 ms; a block is 1 s of it, 20 calls. (Slow enough that the
    # limit's arrival time stays ahead of the clock for the whole test.)
    blocks = _limiter(prefix, block_ms=1000)
    check = Check("key", "requests", blocks.key("requests", "key", "k"), 1200)
    try:
        before = await _redis_ms(store)
        await _granted(blocks, [check])
        after = await _redis_ms(store)
        taken = [await blocks.admit([check]) for _ in range(8)]
        assert all(a.admitted and a.slots == {} for a in taken)
        remaining = [a.states[0].remaining for a in taken]
        assert remaining == sorted(remaining, reverse=True) and len(set(remaining)) == 8
        assert remaining[-1] == pytest.approx(1200 - 9, abs=1)
        # Redis holds the 9 calls made and what the blocks hold, charged ahead.
        await _until(lambda: not blocks._blocks._granting)
        held = blocks._blocks._blocks[check.redis_key].units
        assert held >= 2
        charged = await _charged_ms(store, check.redis_key, before)
        assert (9 + held) * 50 <= charged + 0.01 <= (9 + held) * 50 + (after - before) + 1
    finally:
        await blocks.close()
    # Given back on close: what is left is the 9 calls made, as when every call asks Redis.
    charged = await _charged_ms(store, check.redis_key, before)
    assert 9 * 50 <= charged + 0.01 <= 9 * 50 + (after - before) + 1


async def test_two_replicas_with_blocks_admit_exactly_the_limit(prefix: str) -> None:
    limit = 6000
    replicas = [_limiter(prefix, block_ms=100), _limiter(prefix, block_ms=100)]
    check = Check("key", "requests", replicas[0].key("requests", "key", "k"), limit)
    started = time.monotonic()

    async def run(limiter: Limiter) -> tuple[int, int]:
        admitted = local = 0
        while True:
            wave = await asyncio.gather(*(limiter.admit([check]) for _ in range(20)))
            admitted += sum(a.admitted for a in wave)
            local += sum(a.admitted and a.slots is not None for a in wave)
            if not all(a.admitted for a in wave):
                return admitted, local

    try:
        results = await asyncio.gather(*(run(limiter) for limiter in replicas))
    finally:
        for limiter in replicas:
            await limiter.close()
    elapsed_ms = (time.monotonic() - started) * 1000
    total = sum(admitted for admitted, _ in results)
    # GCRA lets the whole limit through at once, then one more every 10 ms.
    assert limit <= total <= limit + elapsed_ms / 10 + 1
    # Both replicas took calls from blocks, while the limit was less than half used.
    assert all(local > 0 for _, local in results)
    assert sum(local for _, local in results) <= limit // 2 + 2 * 10


async def test_no_block_past_half_of_a_limit(prefix: str) -> None:
    blocks, plain = _limiter(prefix, block_ms=100), _limiter(prefix, block_ms=0)
    try:
        key = blocks.key("requests", "key", "k")
        assert (await plain.admit([Check("key", "requests", key, 6000, cost=3100)])).admitted
        check = Check("key", "requests", key, 6000)
        for _ in range(5):
            admission = await blocks.admit([check])
            assert admission.admitted and admission.slots is None
            await asyncio.sleep(0.02)
        assert key not in blocks._blocks._blocks
    finally:
        await blocks.close()
        await plain.close()


async def test_tokens_used_beyond_or_under_estimates_are_charged_as_without_blocks(
    prefix: str, store: redis.asyncio.Redis
) -> None:
    # 60,000 tokens a minute, 1 ms a token (a block: 1 s, 1,000); each call estimated at 50.
    blocks = _limiter(prefix, block_ms=1000)
    used = [80, 20, 50, 130, 10, 75, 50, 90]
    check = Check("key", "tokens", blocks.key("tokens", "key", "k"), 60_000, cost=50)
    try:
        before = await _redis_ms(store)
        await _granted(blocks, [check])
        after = await _redis_ms(store)
        for real in used:
            admission = await blocks.admit([check])
            assert admission.admitted and admission.slots == {}
            blocks.settle(admission, {"tokens": real - 50}, release=True)
    finally:
        await blocks.close()
    # The first call's estimate and the others' real use, at 1 ms a token.
    expected = 50 + sum(used)
    charged = await _charged_ms(store, check.redis_key, before)
    assert expected <= charged + 0.01 <= expected + (after - before) + 1


async def test_concurrency_slots_are_lent_and_given_back(
    prefix: str, store: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(allowance, "LIFE_S", 0.3)
    limiter = _limiter(prefix, block_ms=100)
    check = Check("key", "concurrent", limiter.key("concurrent", "key", "k"), 6400)
    try:
        first = await _granted(limiter, [check])
        assert await store.zcard(check.redis_key) == 1 + 64
        calls = [await limiter.admit([check]) for _ in range(10)]
        assert all(call.slots for call in calls)
        assert len({call.slots[check.redis_key] for call in calls if call.slots}) == 10
        # 11 calls in (the state is the grant's: it may miss the first call's own slot).
        assert calls[-1].states[0].remaining == pytest.approx(6400 - 11, abs=1)
        for call in calls[:5]:
            limiter.settle(call, {}, release=True)
        limiter.settle(first, {}, release=True)
        # The block ends unused: its free slots go back; the 5 still running keep theirs.
        await _until(lambda: check.redis_key not in limiter._blocks._blocks)
        await asyncio.sleep(0.4)
        assert await store.zcard(check.redis_key) == 5
        # Released after their block ended: each slot goes back on its own.
        for call in calls[5:]:
            limiter.settle(call, {}, release=True)
    finally:
        await limiter.close()
    assert await store.zcard(check.redis_key) == 0


async def test_a_changed_limit_ends_its_block(prefix: str, store: redis.asyncio.Redis) -> None:
    limiter = _limiter(prefix, block_ms=100)
    key = limiter.key("concurrent", "key", "k")
    try:
        first = await _granted(limiter, [Check("key", "concurrent", key, 6400)])
        raised = Check("key", "concurrent", key, 12_800)
        call = await limiter.admit([raised])
        assert call.admitted and call.slots is None  # asked Redis: the block was for 6,400
        limiter.settle(first, {}, release=True)
        limiter.settle(call, {}, release=True)
    finally:
        await limiter.close()
    assert await store.zcard(key) == 0


async def test_limits_too_small_for_a_block_are_checked_call_by_call(prefix: str) -> None:
    limiter = _limiter(prefix, block_ms=100)
    small = [
        Check("key", "requests", limiter.key("requests", "key", "a"), 1199),
        Check("key", "concurrent", limiter.key("concurrent", "key", "b"), 127),
        Check("key", "budget", limiter.key("budget", "key", "c"), 10**9, need=0, cost=0),
    ]
    try:
        for check in small:
            for _ in range(3):
                admission = await limiter.admit([check])
                assert admission.admitted and admission.slots is None
                await asyncio.sleep(0.02)
        assert not limiter._blocks._blocks
    finally:
        await limiter.close()


async def test_a_block_in_use_is_replaced_before_its_slots_outlive_their_lease(
    prefix: str, store: redis.asyncio.Redis
) -> None:
    # Leases of 1 s: a block lends its slots for at most 0.5 s, however busy.
    limiter = Limiter(REDIS, prefix=prefix, timeout_s=1.0, lease_s=1.0, block_ms=100)
    check = Check("key", "concurrent", limiter.key("concurrent", "key", "k"), 6400)
    try:
        first = await _granted(limiter, [check])
        held = await limiter.admit([check])  # a call that outlasts its block
        assert held.slots
        old = set(limiter._blocks._blocks[check.redis_key].names)
        deadline = time.monotonic() + 0.7
        while time.monotonic() < deadline:  # busy: calls start and end all the time
            call = await limiter.admit([check])
            limiter.settle(call, {}, release=True)
            await asyncio.sleep(0.01)
        await asyncio.sleep(allowance.LIFE_S / 2 + 0.1)  # (ended blocks are given back)
        members = {name.decode() for name in await store.zrange(check.redis_key, 0, -1)}
        # Newer blocks were lent; of the first block's slots, only the long call's is left.
        assert limiter._blocks._seq >= 2 * 64
        assert members & old == {held.slots[check.redis_key]}
        limiter.settle(held, {}, release=True)
        limiter.settle(first, {}, release=True)
    finally:
        await limiter.close()
    assert await store.zcard(check.redis_key) == 0
