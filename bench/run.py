"""`make bench`: Rhone against a peer gateway (LiteLLM's proxy), side by side, on the same fake
OpenAI upstream, with the same load; prints each gateway's numbers, the ratios and the targets
of docs/performance.md.

The upstream answers at once (a whole chat completion, or 50 streamed chunks), so what is
measured is each gateway's own cost. Both gateways run on one core (Rhone's four processes
together on it), each idle while the other is measured; the load generator and the upstream
share the other core. Rhone runs as `make run` deploys it: four processes, gRPC between them,
every call recorded as a turn of a new session in SQLite. The peer forwards statelessly.

Each cell of the table is measured in rounds (--rounds), the gateways (and the upstream
alone) taking turns within each round, the first of them changing from round to round: a
machine whose speed drifts over minutes (a shared one) slows them alike, where gateways
measured one after the other could each meet a different machine. CPU is read from /proc for
each gateway's processes, so its columns hold whatever else the machine is doing; the
throughput and latency columns do not: compare ratios from one run."""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.cells import Cell, measure
from bench.gateways import (
    UPSTREAM_KEY,
    Gateway,
    limited_key,
    rhone_gateway,
    start_peer,
    start_rhone,
    start_upstream,
)
from bench.idle_sockets import idle_socket_bytes
from bench.limits_paired import paired_limits_cost, print_paired
from bench.socket_paired import paired_socket_cost, print_socket_cost

GATEWAY_CORE = 0


@dataclass
class Profile:
    """What the table shows of one gateway."""

    whole16: Cell
    whole1: Cell
    stream16: Cell
    stream1: Cell
    memory_mib: float

    def cpu_per_chunk_ms(self, chunks: int) -> float:
        return (self.stream16.cpu_ms - self.whole16.cpu_ms) / chunks


def profiles(gateways: list[Gateway], args: argparse.Namespace) -> dict[str, Profile]:
    """The table's four cells for each gateway, each cell in `args.rounds` rounds in which
    the gateways take turns (the first one rotating), merged (Cell.merged)."""
    for gateway in gateways:
        cpu.pin(gateway.pids, {GATEWAY_CORE})
    loads = (
        (False, args.concurrency, args.requests),
        (False, 1, args.serial),
        (True, args.concurrency, args.streams),
        (True, 1, args.serial),
    )
    parts: dict[str, list[list[Cell]]] = {g.name: [[] for _ in loads] for g in gateways}
    for index, (stream, concurrency, total) in enumerate(loads):
        share = max(total // args.rounds, concurrency)
        for round_ in range(args.rounds):
            turn = round_ % len(gateways)
            for gateway in gateways[turn:] + gateways[:turn]:
                cell = asyncio.run(
                    measure(gateway, stream=stream, concurrency=concurrency, total=share)
                )
                parts[gateway.name][index].append(cell)
    table = {}
    for gateway in gateways:
        whole16, whole1, stream16, stream1 = (Cell.merged(cells) for cells in parts[gateway.name])
        memory = cpu.rss_bytes(gateway.pids) / 2**20
        table[gateway.name] = Profile(whole16, whole1, stream16, stream1, memory)
    return table


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if value == value else "-"


def print_profiles(profiles: dict[str, Profile], chunks: int) -> None:
    direct = profiles["direct"]
    names: list[str] = [n for n in ("direct", "litellm", "rhone") if n in profiles]
    rows: list[tuple[str, dict[str, float], str, bool | None]] = []

    def row(label: str, values: dict[str, float], target: str = "", ok: bool | None = None) -> None:
        rows.append((label, values, target, ok))

    def added(fn: str) -> dict[str, float]:
        base = getattr(direct, fn)()
        return {n: getattr(profiles[n], fn)() - base if n != "direct" else base for n in names}

    peer = profiles.get("litellm")
    rhone = profiles["rhone"]
    whole = {n: profiles[n].whole16.rps for n in names}
    row(
        f"whole answers, req/s at c={16}",
        whole,
        ">= 4x peer",
        rhone.whole16.rps >= 4 * peer.whole16.rps if peer else None,
    )
    p50 = {
        n: profiles[n].whole1.p50() - (direct.whole1.p50() if n != "direct" else 0) for n in names
    }
    row(
        "added p50 latency, c=1 (ms)",
        p50,
        "<= peer/7",
        p50["rhone"] * 7 <= p50["litellm"] if peer else None,
    )
    streams = {n: profiles[n].stream16.rps for n in names}
    row(
        f"streams/s ({chunks} chunks) at c=16",
        streams,
        ">= 8x peer",
        rhone.stream16.rps >= 8 * peer.stream16.rps if peer else None,
    )
    ttft = {
        n: profiles[n].stream1.ttfb50() - (direct.stream1.ttfb50() if n != "direct" else 0)
        for n in names
    }
    row(
        "added time to first token, p50 c=1 (ms)",
        ttft,
        "<= peer/7",
        ttft["rhone"] * 7 <= ttft["litellm"] if peer else None,
    )
    total = {
        n: profiles[n].stream1.p50() - (direct.stream1.p50() if n != "direct" else 0) for n in names
    }
    row("added total stream time, p50 c=1 (ms)", total)
    row("gateway CPU per whole call (ms)", {n: profiles[n].whole16.cpu_ms for n in names})
    per_chunk = {n: profiles[n].cpu_per_chunk_ms(chunks) for n in names}
    row("gateway CPU per streamed chunk (ms)", per_chunk, "<= 0.1 ms", per_chunk["rhone"] <= 0.1)
    memory = {n: profiles[n].memory_mib for n in names}
    row("memory after the run (MiB)", memory, "<= 300 MiB", memory["rhone"] <= 300)

    print(f"\n{'':<42}" + "".join(f"{n:>10}" for n in names) + f"{'x peer':>9}  target")
    for label, values, target, ok in rows:
        cells = "".join(f"{_fmt(values[n], 2 if abs(values[n]) < 10 else 1):>10}" for n in names)
        ratio = ""
        if peer and values.get("litellm"):
            ratio = f"x{values['rhone'] / values['litellm']:.2f}"
        verdict = "" if ok is None else ("met" if ok else "NOT met")
        print(f"{label:<42}{cells}{ratio:>9}  {target} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-python", default="", help="python of the venv with litellm")
    parser.add_argument("--requests", type=int, default=600, help="whole calls at c=16")
    parser.add_argument("--streams", type=int, default=300, help="streams at c=16")
    parser.add_argument("--serial", type=int, default=150, help="calls at c=1, per kind")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of each cell, the gateways taking turns"
    )
    parser.add_argument("--idle-sockets", type=int, default=1000)
    parser.add_argument(
        "--socket-rounds", type=int, default=4, help="rounds of the socket-against-SSE cell"
    )
    parser.add_argument(
        "--limit-rounds", type=int, default=10, help="rounds (pairs) of the limits cell"
    )
    parser.add_argument("--limit-calls", type=int, default=200, help="whole calls at c=16 a round")
    parser.add_argument(
        "--limit-serial", type=int, default=80, help="calls at c=1 a round, each key"
    )
    parser.add_argument(
        "--only-limits", action="store_true", help="Rhone alone: the cost of enforcing limits"
    )
    args = parser.parse_args()

    cores = os.sched_getaffinity(0)
    pinned = len(cores) >= 2 and GATEWAY_CORE in cores
    if pinned:
        os.sched_setaffinity(0, cores - {GATEWAY_CORE})  # the load generator and upstream
    else:
        print("one core only: gateways, load and upstream share it (ratios are still fair)")

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        upstream, upstream_url = start_upstream(args.chunks)
        peer = None
        try:
            rhone = start_rhone(upstream_url, workdir)
            try:
                gateway = rhone_gateway(rhone)
                if args.only_limits:
                    cpu.pin(gateway.pids, {GATEWAY_CORE})
                    limits_cost(gateway, args)
                    return
                gateways = [Gateway("direct", upstream_url + "/chat/completions", UPSTREAM_KEY)]
                if args.peer_python:
                    peer, peer_gateway = start_peer(args.peer_python, upstream_url, workdir)
                    gateways.append(peer_gateway)
                gateways.append(gateway)
                table = profiles(gateways, args)
                if peer is not None:  # the Rhone-only cells have the core to themselves
                    peer.terminate()
                    peer.wait(10)
                    peer = None
                print_profiles(table, args.chunks)
                rhone_only(gateway, args)
            finally:
                rhone.stop()
        finally:
            if peer is not None:
                peer.terminate()
                peer.wait(10)
            upstream.terminate()
            upstream.wait(10)


def limits_cost(gateway: Gateway, args: argparse.Namespace) -> None:
    limited = Gateway("rhone+lim", gateway.url, limited_key(gateway.base_url), gateway.pids)
    cost = paired_limits_cost(
        gateway,
        limited,
        rounds=args.limit_rounds,
        calls=args.limit_calls,
        serial=args.limit_serial,
        concurrency=args.concurrency,
    )
    print_paired(cost)


def rhone_only(gateway: Gateway, args: argparse.Namespace) -> None:
    """The cells with no peer: a call on an open rhone.ws.v1 socket against the same call over
    HTTP, the cost of enforcing a key's limits, and idle sockets."""

    # A socket call always streams (docs/rhone-ws-v1.md): it is the same call as an SSE one.
    socket_cost = paired_socket_cost(
        gateway,
        rounds=args.socket_rounds,
        streams=args.streams // 2,
        serial=args.serial // 2,
        concurrency=args.concurrency,
    )
    print_socket_cost(socket_cost)

    limits_cost(gateway, args)

    per_socket = asyncio.run(
        idle_socket_bytes(gateway.base_url, gateway.key, gateway.edge_pid, args.idle_sockets)
    )
    print(
        f"\n{args.idle_sockets} idle rhone.ws.v1 sockets: {per_socket / 1024:.1f} KiB each in the "
        f"facade; all four services {cpu.rss_bytes(gateway.pids) / 2**20:.0f} MiB with them open"
    )


if __name__ == "__main__":
    main()
