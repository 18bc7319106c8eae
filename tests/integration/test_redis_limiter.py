"""The limits scripts on a real Redis (a key prefix of this run's own)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from services.facade.limit_checks import Admission, Check
from services.facade.limits import Limiter, LimitsUnavailable
from services.facade.metering import MICRO


@pytest.fixture
async def limiter() -> AsyncIterator[Limiter]:
    limiter = Limiter(
        "redis://127.0.0.1:6379/0",
        prefix="rhone-test-" + secrets.token_hex(6),
        timeout_s=1.0,
        lease_s=600,
    )
    try:
        yield limiter
    finally:
        await limiter.close()


async def test_n_requests_per_minute_admit_exactly_n(limiter: Limiter) -> None:
    check = Check("key", "requests", limiter.key("requests", "key", "k1"), 3)
    admitted = [(await limiter.admit([check])) for _ in range(4)]
    assert [a.admitted for a in admitted] == [True, True, True, False]
    assert [a.states[0].remaining for a in admitted[:3]] == [2, 1, 0]
    assert admitted[3].denied_by == check and 15_000 <= admitted[3].retry_after_ms <= 20_000


async def test_a_refusal_charges_none_of_the_limits(limiter: Limiter) -> None:
    loose = Check("key", "requests", limiter.key("requests", "key", "k2"), 100)
    tight = Check("tenant", "requests", limiter.key("requests", "tenant", "t2"), 1)
    assert (await limiter.admit([loose, tight])).admitted
    refused = await limiter.admit([loose, tight])
    assert not refused.admitted and refused.denied_by == tight
    assert (await limiter.admit([loose])).states[0].remaining == 98


async def test_tokens_are_admitted_while_some_are_left_and_settled_to_real_use(
    limiter: Limiter,
) -> None:
    key = limiter.key("tokens", "key", "k3")
    estimate = Check("key", "tokens", key, 1000, need=1, cost=900)
    first = await limiter.admit([estimate])
    assert first.admitted and first.states[0].remaining == 100
    # The call used 1100 tokens: 200 more than its estimate.
    await limiter.charge([estimate], first.lease_id, {"tokens": 200}, release=True)
    assert not (await limiter.admit([estimate])).admitted
    # A call that used less than estimated gives the difference back.
    await limiter.charge([estimate], first.lease_id, {"tokens": -600}, release=True)
    assert (await limiter.admit([Check("key", "tokens", key, 1000, cost=1)])).admitted


async def test_concurrency_slots_are_leased_and_given_back(limiter: Limiter) -> None:
    check = Check("key", "concurrent", limiter.key("concurrent", "key", "k4"), 2)
    first, second = await limiter.admit([check]), await limiter.admit([check])
    assert first.admitted and second.admitted
    assert not (await limiter.admit([check])).admitted
    await limiter.charge([check], first.lease_id, {}, release=True)
    assert (await limiter.admit([check])).admitted


async def test_a_budget_is_seeded_once_and_charged_with_costs(limiter: Limiter) -> None:
    key = limiter.key("budget", "key", "k5")
    seeded = Check("key", "budget", key, 1 * MICRO, need=0, cost=int(0.5 * MICRO))
    first = await limiter.admit([seeded])
    assert first.admitted
    await limiter.charge([seeded], first.lease_id, {"budget": int(0.6 * MICRO)}, release=True)
    # A later seed (a stale resolution) does not reset what Redis counted.
    again = Check("key", "budget", key, 1 * MICRO, need=0, cost=0)
    refused = await limiter.admit([again])
    assert not refused.admitted and refused.denied_by == again


async def test_an_unreachable_redis_fails_fast() -> None:
    from rhone.launcher import free_port

    dead = Limiter(f"redis://127.0.0.1:{free_port()}/0", prefix="x", timeout_s=0.2, lease_s=600)
    try:
        with pytest.raises(LimitsUnavailable):
            await dead.admit([Check("key", "requests", "x:requests:key:k", 1)])
    finally:
        await dead.close()


async def test_many_calls_at_once_admit_exactly_the_limit(limiter: Limiter) -> None:
    check = Check("key", "requests", limiter.key("requests", "key", "k6"), 40)

    async def wave() -> list[Admission]:
        return await asyncio.gather(*(limiter.admit([check]) for _ in range(30)))

    # Four waves, each sent while the replies to the ones before it are still on the way.
    waves = []
    for _ in range(4):
        waves.append(asyncio.ensure_future(wave()))
        await asyncio.sleep(0)
    admissions = [admission for done in await asyncio.gather(*waves) for admission in done]
    assert sum(a.admitted for a in admissions) == 40
    # Every admitted call saw a different count left: the script ran once per call, in order.
    assert sorted(a.states[0].remaining for a in admissions if a.admitted) == list(range(40))


async def test_a_script_redis_forgot_is_loaded_again(limiter: Limiter) -> None:
    check = Check("key", "requests", limiter.key("requests", "key", "k7"), 5)
    assert (await limiter.admit([check])).admitted
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        await client.script_flush()
    finally:
        await client.aclose()
    again = await asyncio.gather(*(limiter.admit([check]) for _ in range(3)))
    assert [a.states[0].remaining for a in again] == [3, 2, 1]


async def test_closing_sends_a_settlement_whose_script_redis_forgot() -> None:
    prefix = "rhone-test-" + secrets.token_hex(6)
    limiter = Limiter("redis://127.0.0.1:6379/0", prefix=prefix, timeout_s=1.0, lease_s=600)
    check = Check("key", "concurrent", limiter.key("concurrent", "key", "k9"), 5)
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        admission = await limiter.admit([check])
        assert await client.zcard(check.redis_key) == 1
        await client.script_flush()
        # A replica stopping right after its last call ended: the release must still land.
        limiter.charge([check], admission.lease_id, {}, release=True)
        await limiter.close()
        assert await client.zcard(check.redis_key) == 0
    finally:
        await client.aclose()


async def test_a_redis_that_goes_away_fails_calls_then_recovers() -> None:
    name = "rhone-test-" + secrets.token_hex(6)
    limiter = Limiter(
        "redis://127.0.0.1:6379/0", prefix=name, timeout_s=1.0, lease_s=600, client_name=name
    )
    check = Check("key", "requests", limiter.key("requests", "key", "k8"), 10)
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        assert (await limiter.admit([check])).admitted
        # The server drops the limiter's connection, as a restarting Redis would.
        killed = [
            await client.client_kill_filter(_id=entry["id"])
            for entry in await client.client_list()
            if entry["name"] == name
        ]
        assert killed
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append((await limiter.admit([check])).admitted)
            except LimitsUnavailable:
                outcomes.append(None)
        # At most the call that found the connection gone fails; the next one reconnects.
        assert outcomes[-1] is True and outcomes.count(None) <= 1
        assert (await limiter.admit([check])).states[0].remaining == 10 - 1 - outcomes.count(
            True
        ) - 1
    finally:
        await client.aclose()
        await limiter.close()


async def test_a_redis_that_never_answers_fails_within_the_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection and the commands, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mute = Limiter(f"redis://127.0.0.1:{port}/0", prefix="x", timeout_s=0.2, lease_s=600)
    try:
        started = time.monotonic()
        with pytest.raises(LimitsUnavailable):
            await mute.admit([Check("key", "requests", "x:requests:key:k", 1)])
        assert time.monotonic() - started < 2
    finally:
        await mute.close()
        server.close()
