"""The cost of enforcing a key's limits on a whole call, measured in pairs.

The effect (a fraction of a millisecond) is far smaller than the drift of a shared
machine over the minutes between two separate runs, so the unlimited key and a key with limits
(bench/gateways.py, limited_key) take turns on the same stack, in short rounds. In each round:
c=16 with one key right after c=16 with the other (throughput, and the gateway's CPU per call,
bench/cpu.py), the key that goes first alternating from round to round (ABBA...); then c=1
with the two keys taking turns call by call, so that drift falls on both alike. Each round is
a pair: a difference in p50 at c=1 and a throughput ratio at c=16. The medians over the pairs
are reported, and the median CPU per call with each key."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field

from bench.cells import Cell, measure, measure_alternating
from bench.gateways import Gateway
from bench.load import Result

P50_TARGET_MS = 0.3
THROUGHPUT_TARGET = 0.95


@dataclass
class Side:
    """One key's loads, one of each per round: c=16 (throughput, CPU) and c=1 (latency)."""

    whole16: list[Cell] = field(default_factory=list)
    whole1: list[Result] = field(default_factory=list)

    def cpu_ms(self) -> float:
        return statistics.median(cell.cpu_ms for cell in self.whole16)


@dataclass
class PairedCost:
    plain: Side
    limited: Side

    def p50_differences(self) -> list[float]:
        return [
            _p50(limited) - _p50(plain)
            for plain, limited in zip(self.plain.whole1, self.limited.whole1, strict=True)
        ]

    def throughput_ratios(self) -> list[float]:
        return [
            limited.rps / plain.rps
            for plain, limited in zip(self.plain.whole16, self.limited.whole16, strict=True)
        ]

    def extra_p50_ms(self) -> float:
        return statistics.median(self.p50_differences())

    def kept_throughput(self) -> float:
        return statistics.median(self.throughput_ratios())

    def met(self) -> bool:
        return self.extra_p50_ms() <= P50_TARGET_MS and self.kept_throughput() >= THROUGHPUT_TARGET


def paired_limits_cost(
    plain: Gateway,
    limited: Gateway,
    *,
    rounds: int,
    calls: int,
    serial: int,
    concurrency: int,
) -> PairedCost:
    """`rounds` rounds; in each, `calls` whole calls at `concurrency` with one key then the
    other, and `serial` calls at c=1 with each, the keys taking turns."""
    cost = PairedCost(Side(), Side())
    both = ((plain, cost.plain), (limited, cost.limited))
    for index in range(rounds):
        order = both if index % 2 == 0 else both[::-1]
        for gateway, side in order:
            cell = measure(gateway, stream=False, concurrency=concurrency, total=calls)
            side.whole16.append(asyncio.run(cell))
        serial_results = asyncio.run(measure_alternating([g for g, _ in order], total=serial))
        for (_, side), result in zip(order, serial_results, strict=True):
            side.whole1.append(result)
    return cost


def _p50(result: Result) -> float:
    return result.pct(result.latencies, 0.5)


def print_paired(cost: PairedCost) -> None:
    pairs = len(cost.plain.whole1)
    print(
        "\nCost of enforcing limits (a key with limits against the same calls without, "
        f"{pairs} interleaved pairs of rounds)"
    )
    differences = " ".join(f"{d:+.2f}" for d in cost.p50_differences())
    print(f"  p50 at c=1, limited - unlimited, per pair (ms): {differences}")
    ratios = " ".join(f"x{r:.3f}" for r in cost.throughput_ratios())
    print(f"  throughput at c=16, limited / unlimited, per pair: {ratios}")
    print(
        f"  gateway CPU per call (median): {cost.plain.cpu_ms():.2f} ms unlimited, "
        f"{cost.limited.cpu_ms():.2f} ms limited"
    )
    extra, kept = cost.extra_p50_ms(), cost.kept_throughput()
    print(
        f"  p50 at c=1 {extra:+.2f} ms (target <= {P50_TARGET_MS}), "
        f"throughput x{kept:.3f} (target >= {THROUGHPUT_TARGET}), medians of the pairs: "
        f"{'met' if cost.met() else 'NOT met'}"
    )
