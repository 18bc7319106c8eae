"""`make bench` cell: what observability costs, in CPU seconds per call.

Three Rhone deployments run side by side on one instant fake upstream, each as deployed (four
processes, gRPC between them, SQLite):

- `off`: no metrics port and no tracing (metrics are still counted in process; nothing
  serves them);
- `metrics`: each service serves /metrics, scraped every 15 s as Prometheus would;
- `tracing`: metrics as above, and OpenTelemetry traces at full sampling
  (OTEL_TRACES_SAMPLER=always_on) exported over OTLP/HTTP to a receiver in this process,
  with the SDK's default batching.

What is measured is the CPU the four service processes use (utime + stime from /proc), not
wall-clock throughput. On a shared machine both move with everyone else's load, from one
second to the next by a quarter or more; so the three deployments are driven at the same time,
each by its own clients, for the same seconds in each round, and suffer the same neighbours.
Each deployment's CPU per call is what its processes used over the rounds, spans exported in
the background after a round included, divided by the calls it answered. The facade's poll of
the keys' version, a cost per second and not per call, runs every 5 s instead of 4 times a
second, so that it does not blur the calls' own cost. When CPU bounds the gateway, throughput
falls in proportion: `x1.18` CPU per call is about 15% fewer calls per second.

    python -m bench.observability_cost [--seconds 8] [--rounds 4] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.cells import MESSAGES
from bench.gateways import RHONE_KEY, start_upstream
from bench.load import run_load
from rhone.launcher import GRPC_SERVICES, SERVICES, Cluster, Ports, free_port
from tests.integration.otlp_receiver import OtlpReceiver

MODES = ("off", "metrics", "tracing")
TICKS = os.sysconf("SC_CLK_TCK")
# Longer than the BatchSpanProcessor's default schedule delay (5 s): the spans of a
# scenario's last calls are exported, and their CPU counted, before the scenario's books close.
SETTLE_S = 6.0
SCRAPE_S = 15.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU of one process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Deployment:
    mode: str
    cluster: Cluster
    # Per scenario, per round: the calls answered and the CPU seconds each process used.
    calls: dict[str, list[int]] = field(default_factory=dict)
    cpu: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.cluster.processes.items()}

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    def per_call(self, scenario: str, rounds: slice = slice(None)) -> dict[str, float]:
        """CPU ms per call by service, over the scenario's rounds (`rounds` of them)."""
        calls = sum(self.calls[scenario][rounds])
        used = self.cpu[scenario][rounds]
        return {name: sum(r[name] for r in used) * 1000 / calls for name in SERVICES}

    def scrape(self) -> None:
        ports = [*self.cluster.metrics_ports.values()]
        urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
        urls.append(self.cluster.base_url + "/metrics")
        for url in urls:
            with urllib.request.urlopen(url, timeout=5) as reply:
                reply.read()


def deployment(mode: str, upstream_url: str, workdir: Path, otlp_endpoint: str) -> Deployment:
    env = {
        "RHONE_API_KEY": RHONE_KEY,
        "OPENAI_API_KEY": "sk-upstream",
        "OPENAI_BASE_URL": upstream_url,
        "RHONE_DATABASE_URL": f"sqlite:///{workdir}/{mode}.db",
        "RHONE_LOG_LEVEL": "WARNING",
        "RHONE_LIMITS_PREFIX": "rhone-bench-" + secrets.token_hex(4),
        # The facade polls the keys' version (4 RPCs a second by default): a cost per second,
        # not per call, that would blur the calls' own.
        "RHONE_KEY_VERSION_POLL_S": "5",
    }
    if mode == "tracing":
        env |= {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "always_on",
        }
    metrics_ports = {} if mode == "off" else {name: free_port() for name in GRPC_SERVICES}
    cluster = Cluster(Ports.free(), env=env, log_dir=workdir / mode, metrics_ports=metrics_ports)
    return Deployment(mode, cluster)


async def drive(url: str, stream: bool, concurrency: int, calls: int, seconds: float) -> int:
    """Calls `url` until `calls` are answered or `seconds` have passed; returns the answers."""
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": stream}
    headers = {"Authorization": f"Bearer {RHONE_KEY}"}
    result = await run_load(
        url, headers, body, concurrency=concurrency, total=calls, seconds=seconds
    )
    if result.errors:
        raise RuntimeError(f"{url}: {result.errors} calls failed")
    return len(result.latencies)


async def drive_all(
    deployments: list[Deployment], stream: bool, concurrency: int, seconds: float
) -> list[int]:
    """All deployments at once, for the same seconds; the calls each answered."""
    return await asyncio.gather(
        *(
            drive(d.cluster.base_url + "/v1/chat/completions", stream, concurrency, 10**9, seconds)
            for d in deployments
        )
    )


def scrape_periodically(deployments: list[Deployment], stop: threading.Event) -> None:
    while not stop.wait(SCRAPE_S):
        for d in deployments:
            d.scrape()


def measure(deployments: list[Deployment], receiver: OtlpReceiver, args: argparse.Namespace) -> int:
    """Runs both scenarios; returns the spans the measured calls exported.

    A round's CPU, for each deployment, is what its processes used from the round's start to
    the next one's (its spans still being exported then included); the last round's ends
    once the last spans are out."""
    spans = 0
    scraped = [d for d in deployments if d.mode != "off"]
    for stream in (False, True):
        scenario = f"stream/{args.chunks}" if stream else "whole"
        for d in deployments:  # warm up: connections, caches, the first spans' exporter
            url = d.cluster.base_url + "/v1/chat/completions"
            asyncio.run(drive(url, stream, 8, 40, 60))
            d.calls[scenario], d.cpu[scenario] = [], []
        time.sleep(SETTLE_S)
        stop = threading.Event()
        scraper = threading.Thread(target=scrape_periodically, args=(scraped, stop), daemon=True)
        scraper.start()
        spans_before = len(receiver.spans)
        start = {d.mode: d.read() for d in deployments}
        for turn in range(args.rounds):
            answered = asyncio.run(drive_all(deployments, stream, args.concurrency, args.seconds))
            if turn == args.rounds - 1:
                time.sleep(SETTLE_S)
            for d, calls in zip(deployments, answered, strict=True):
                now = d.read()
                d.calls[scenario].append(calls)
                d.cpu[scenario].append({n: now[n] - start[d.mode][n] for n in now})
                start[d.mode] = now
        stop.set()
        scraper.join()
        spans += len(receiver.spans) - spans_before
    return spans


def report(deployments: list[Deployment], spans: int) -> None:
    by_mode = {d.mode: d for d in deployments}
    off = by_mode["off"]
    scenarios = list(off.cpu)
    print(f"\nCPU ms per call, by service ({', '.join(SERVICES)}) and in all")
    print(f"{'scenario':<12}{'mode':<9}" + "".join(f"{s:>12}" for s in SERVICES) + f"{'all':>9}")
    for scenario in scenarios:
        for d in deployments:
            per = d.per_call(scenario)
            print(
                f"{scenario:<12}{d.mode:<9}"
                + "".join(f"{per[name]:>12.2f}" for name in SERVICES)
                + f"{sum(per.values()):>9.2f}"
            )
    print(
        "\nAgainst `off`: CPU per call over all rounds, and the median (lowest-highest) of the"
        "\nrounds' own ratios. When CPU bounds throughput, it falls as 1 - 1/ratio."
    )
    for scenario in scenarios:
        base = sum(off.per_call(scenario).values())
        rounds = len(off.calls[scenario])
        for mode in MODES[1:]:
            d = by_mode[mode]
            ratio = sum(d.per_call(scenario).values()) / base
            each = sorted(
                sum(d.per_call(scenario, slice(r, r + 1)).values())
                / sum(off.per_call(scenario, slice(r, r + 1)).values())
                for r in range(rounds)
            )
            print(
                f"  {scenario:<12}{mode:<9} CPU x{ratio:.3f}   throughput {1 / ratio - 1:+.1%}"
                f"   rounds x{statistics.median(each):.3f} ({each[0]:.3f}-{each[-1]:.3f})"
            )
    traced = sum(sum(calls) for calls in by_mode["tracing"].calls.values())
    print(f"\nspans exported per call (tracing): {spans / traced:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8, help="the length of a round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8, help="clients per deployment")
    parser.add_argument("--chunks", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as receiver:
        workdir = Path(tmp)
        upstream, upstream_url = start_upstream(args.chunks)
        deployments = [deployment(m, upstream_url, workdir, receiver.endpoint) for m in MODES]
        try:
            for d in deployments:
                d.cluster.start()
            for d in deployments:
                d.cluster.wait_ready(90)
            spans = measure(deployments, receiver, args)
            report(deployments, spans)
        finally:
            for d in deployments:
                d.cluster.stop()
            upstream.terminate()
            upstream.wait(10)


if __name__ == "__main__":
    main()
