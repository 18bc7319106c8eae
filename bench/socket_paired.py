"""A streamed call on an open rhone.ws.v1 socket against the same call over HTTP (SSE), measured
in pairs on one stack.

The two differ by a few percent of a call's CPU, less than the drift of a machine between two
cells taken minutes apart (the HTTP cell of the main table runs first, on a fresh stack), so
they take turns in short rounds, the one that goes first alternating (ABBA...): c=16 for
throughput and CPU per call, then c=1 for the time to the first event and the whole stream.
The medians over the rounds are reported."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field

from bench.cells import Cell, measure
from bench.gateways import Gateway


@dataclass
class Transport:
    """One transport's cells, one of each per round."""

    stream16: list[Cell] = field(default_factory=list)
    stream1: list[Cell] = field(default_factory=list)

    def rps(self) -> float:
        return statistics.median(cell.rps for cell in self.stream16)

    def cpu_ms(self) -> float:
        return statistics.median(cell.cpu_ms for cell in self.stream16)

    def first_event_ms(self) -> float:
        return statistics.median(cell.ttfb50() for cell in self.stream1)

    def whole_ms(self) -> float:
        return statistics.median(cell.p50() for cell in self.stream1)


@dataclass
class SocketCost:
    http: Transport
    socket: Transport

    def cpu_ratios(self) -> list[float]:
        return [
            socket.cpu_ms / http.cpu_ms
            for http, socket in zip(self.http.stream16, self.socket.stream16, strict=True)
        ]

    def met(self) -> bool:
        return self.socket.cpu_ms() < self.http.cpu_ms()


def paired_socket_cost(
    gateway: Gateway, *, rounds: int, streams: int, serial: int, concurrency: int
) -> SocketCost:
    cost = SocketCost(Transport(), Transport())
    both = ((False, cost.http), (True, cost.socket))
    for index in range(rounds):
        for ws, side in both if index % 2 == 0 else both[::-1]:
            side.stream16.append(
                asyncio.run(
                    measure(gateway, stream=True, concurrency=concurrency, total=streams, ws=ws)
                )
            )
            side.stream1.append(
                asyncio.run(measure(gateway, stream=True, concurrency=1, total=serial, ws=ws))
            )
    return cost


def print_socket_cost(cost: SocketCost) -> None:
    rounds = len(cost.http.stream16)
    print(
        "\nrhone.ws.v1: a streamed call on an open socket against the same call over HTTP (SSE), "
        f"{rounds} interleaved rounds, medians"
    )
    http, socket = cost.http, cost.socket
    print(f"  {'':<34}{'HTTP':>10}{'socket':>10}")
    print(f"  {'calls/s at c=16':<34}{http.rps():>10.1f}{socket.rps():>10.1f}")
    first = "time to first event, p50 c=1 (ms)"
    print(f"  {first:<34}{http.first_event_ms():>10.2f}{socket.first_event_ms():>10.2f}")
    whole = "whole stream, p50 c=1 (ms)"
    print(f"  {whole:<34}{http.whole_ms():>10.2f}{socket.whole_ms():>10.2f}")
    print(f"  {'gateway CPU per call (ms)':<34}{http.cpu_ms():>10.2f}{socket.cpu_ms():>10.2f}")
    ratios = " ".join(f"x{r:.3f}" for r in cost.cpu_ratios())
    print(f"  socket / HTTP CPU per call, per round: {ratios}")
    print(
        "  target: a call on a socket costs less than over HTTP: "
        f"{'met' if cost.met() else 'NOT met'}"
    )
