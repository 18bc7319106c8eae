"""`make bench` measures each cell in rounds, the gateways taking turns; a cell's rounds are
read as one load: calls pooled, time summed, CPU per call over all the calls."""

from __future__ import annotations

from bench.cells import Cell
from bench.load import Result


def test_rounds_merge_into_one_load() -> None:
    first = Cell(Result(latencies=[0.001, 0.003], first_bytes=[0.0005, 0.001], elapsed=1.0), 2.0)
    second = Cell(
        Result(latencies=[0.002] * 6, first_bytes=[0.002] * 6, errors=1, elapsed=2.0), 4.0
    )
    merged = Cell.merged([first, second])
    assert merged.rps == 8 / 3  # 8 calls in the 3 s the gateway was measured
    assert merged.p50() == 2.0  # ms, over all 8 calls
    assert merged.ttfb50() == 2.0
    assert merged.result.errors == 1
    assert merged.cpu_ms == (2 * 2.0 + 6 * 4.0) / 8
