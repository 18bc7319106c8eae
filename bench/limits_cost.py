"""The cost enforcement adds to one call, measured alone (`python -m bench.limits_cost`):
admitting a call against a key's three limits (one Redis script: on the call's path) and
settling it (another script: after the answer, off the path). Needs the Redis of
RHONE_REDIS_URL (default redis://127.0.0.1:6379/0); uses a key prefix of its own."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

from services.facade.limit_checks import Check
from services.facade.limits import Limiter


async def main(calls: int, concurrency: int) -> None:
    prefix = "rhone-bench-limits-" + secrets.token_hex(4)
    limiter = Limiter(
        os.environ.get("RHONE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        prefix=prefix,
        timeout_s=1.0,
        lease_s=600,
    )
    checks = [
        Check("key", "requests", limiter.key("requests", "key", "k"), 10**9),
        Check("key", "tokens", limiter.key("tokens", "key", "k"), 10**12, cost=20),
        Check("key", "concurrent", limiter.key("concurrent", "key", "k"), 10**6),
    ]
    admits: list[float] = []
    settles: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        admission = await limiter.admit(checks)
        admits.append(time.perf_counter() - started)
        started = time.perf_counter()
        await limiter.charge(checks, admission.lease_id, {"tokens": 5}, release=True)
        settles.append(time.perf_counter() - started)

    async def worker(n: int) -> None:
        for _ in range(n):
            await one()

    for _ in range(100):  # warm up: connections, script cache
        await one()
    admits.clear()
    settles.clear()
    began = time.perf_counter()
    await asyncio.gather(*(worker(calls // concurrency) for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    cpu = time.process_time()
    await limiter.close()

    def p(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))] * 1000

    print(f"{len(admits)} calls, concurrency {concurrency}, {len(admits) / elapsed:.0f} calls/s")
    print(f"admit  p50 {p(admits, 0.5):.3f} ms  p99 {p(admits, 0.99):.3f} ms")
    print(f"settle p50 {p(settles, 0.5):.3f} ms  p99 {p(settles, 0.99):.3f} ms")
    print(f"mean admit {statistics.fmean(admits) * 1000:.3f} ms; process CPU {cpu:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency))
