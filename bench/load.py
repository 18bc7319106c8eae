"""A closed-loop load generator: `concurrency` clients, each sending its next request when
the last one finished, until `total` have been sent (or, with `seconds`, until that long has
passed: the requests in flight then still finish and count). Records latency and time to
first byte."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    first_bytes: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000

    def summary(self) -> dict[str, float]:
        return {
            "rps": self.rps,
            "p50_ms": self.pct(self.latencies, 0.50),
            "p99_ms": self.pct(self.latencies, 0.99),
            "ttfb_p50_ms": self.pct(self.first_bytes, 0.50),
            "mean_ms": statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan"),
            "errors": float(self.errors),
        }


async def run_load(
    url: str,
    headers: dict[str, str],
    body: dict,
    *,
    concurrency: int,
    total: int,
    seconds: float | None = None,
) -> Result:
    result = Result()
    remaining = total
    deadline = time.perf_counter() + seconds if seconds is not None else None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0 and (deadline is None or time.perf_counter() < deadline):
                remaining -= 1
                await _timed_call(client, url, headers, body, result)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.perf_counter() - began
    return result


async def run_alternating(
    url: str, headers: list[dict[str, str]], body: dict, *, total: int
) -> list[Result]:
    """One client (c=1) whose calls take turns with each set of headers (one key, then the
    other...), so that whatever the machine does meanwhile falls on each alike; `total`
    calls with each set, one Result per set (latencies only: no throughput)."""
    results = [Result() for _ in headers]
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(total):
            for one, result in zip(headers, results, strict=True):
                await _timed_call(client, url, one, body, result)
    return results


async def _timed_call(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict, result: Result
) -> None:
    start = time.perf_counter()
    try:
        async with client.stream("POST", url, json=body, headers=headers) as reply:
            first = None
            async for _ in reply.aiter_raw():
                if first is None:
                    first = time.perf_counter() - start
            if reply.status_code != 200:
                result.errors += 1
                return
    except httpx.HTTPError:
        result.errors += 1
        return
    result.latencies.append(time.perf_counter() - start)
    result.first_bytes.append(first or 0.0)


async def run_ws_load(
    base_url: str, key: str, body: dict, *, concurrency: int, total: int
) -> Result:
    """The same closed loop over rhone.ws.v1: each client opens one unbound socket (each call
    a new session, as over HTTP) and runs its calls on it one after another."""
    from rhone.ws_client import RhoneWsClient

    result = Result()
    remaining = total
    sockets = [await RhoneWsClient.connect(base_url, key) for _ in range(concurrency)]

    async def worker(ws: RhoneWsClient) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            first = None
            try:
                async for _ in ws.create("openai.chat", body):
                    if first is None:
                        first = time.perf_counter() - start
            except Exception:  # a failed call is counted, the load goes on
                result.errors += 1
                continue
            result.latencies.append(time.perf_counter() - start)
            result.first_bytes.append(first or 0.0)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker(ws) for ws in sockets))
        result.elapsed = time.perf_counter() - began
    finally:
        for ws in sockets:
            await ws.close()
    return result
