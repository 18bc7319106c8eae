"""One measured load against one gateway (a cell of the bench's tables): its Result and the
gateway's CPU per call over it."""

from __future__ import annotations

from dataclasses import dataclass

from bench import cpu
from bench.gateways import Gateway
from bench.load import Result, run_alternating, run_load, run_ws_load

MESSAGES = [{"role": "user", "content": "Say something."}]


@dataclass
class Cell:
    """One load against one gateway: its Result and the gateway's CPU seconds per call."""

    result: Result
    cpu_ms: float

    @property
    def rps(self) -> float:
        return self.result.rps

    def p50(self) -> float:
        return self.result.pct(self.result.latencies, 0.5)

    def ttfb50(self) -> float:
        return self.result.pct(self.result.first_bytes, 0.5)

    @classmethod
    def merged(cls, parts: list[Cell]) -> Cell:
        """The parts of one cell measured in rounds, as one: their calls pooled (latencies,
        time to first byte), their durations summed (calls a second over the time the
        gateway was measured), CPU per call over all their calls."""
        result = Result(
            latencies=[x for part in parts for x in part.result.latencies],
            first_bytes=[x for part in parts for x in part.result.first_bytes],
            errors=sum(part.result.errors for part in parts),
            elapsed=sum(part.result.elapsed for part in parts),
        )
        calls = [max(len(part.result.latencies), 1) for part in parts]
        cpu_ms = sum(part.cpu_ms * n for part, n in zip(parts, calls, strict=True)) / sum(calls)
        return cls(result, cpu_ms)


def _body(stream: bool) -> dict:
    return {"model": "gpt-4o", "messages": MESSAGES, "stream": stream}


async def measure(
    gateway: Gateway, *, stream: bool, concurrency: int, total: int, ws: bool = False
) -> Cell:
    body = _body(stream)
    headers = {"Authorization": f"Bearer {gateway.key}"}

    async def load(n: int) -> Result:
        if ws:
            return await run_ws_load(
                gateway.base_url, gateway.key, body, concurrency=concurrency, total=n
            )
        return await run_load(gateway.url, headers, body, concurrency=concurrency, total=n)

    await load(max(total // 10, concurrency))  # warm up: connections, caches, JIT-free paths
    before = cpu.cpu_seconds(gateway.pids)
    result = await load(total)
    spent = cpu.cpu_seconds(gateway.pids) - before
    return Cell(result, spent / max(len(result.latencies), 1) * 1000)


async def measure_alternating(gateways: list[Gateway], *, total: int) -> list[Result]:
    """Whole calls at c=1 to one URL, taking turns with each gateway's key: `total` with each
    (after a warm-up), one Result per gateway."""
    [url] = {gateway.url for gateway in gateways}
    headers = [{"Authorization": f"Bearer {gateway.key}"} for gateway in gateways]
    await run_alternating(url, headers, _body(False), total=max(total // 10, 1))
    return await run_alternating(url, headers, _body(False), total=total)
