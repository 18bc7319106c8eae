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
wall-clock throughput: on a shared machine the clock moves with everyone else's load, while a
process's CPU is its own. The deployments take turns in rounds, each round starting with the
next one, so drift in the machine hits all three alike. Every CPU second a deployment's
processes use while a scenario runs counts for that scenario, spans exported in the
background after a batch included. The facade's poll of the keys' version, a cost per second
and not per call, runs every 5 s instead of 4 times a second, so that it does not blur the
calls' own cost. When CPU bounds the gateway, throughput falls in proportion: `x1.18` CPU per
call is about 15% fewer calls per second.

    python -m bench.observability_cost [--calls 150] [--rounds 4] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import run_load
from bench.run import MESSAGES, RHONE_KEY, start_upstream
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
    calls: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {name: process.pid for name, process in self.cluster.processes.items()}

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

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


async def drive(url: str, stream: bool, calls: int, concurrency: int) -> int:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": stream}
    headers = {"Authorization": f"Bearer {RHONE_KEY}"}
    result = await run_load(url, headers, body, concurrency=concurrency, total=calls)
    if result.errors:
        raise RuntimeError(f"{result.errors} of {calls} calls failed")
    return len(result.latencies)


def scrape_every_second(deployments: list[Deployment], stop: threading.Event) -> None:
    while not stop.wait(SCRAPE_S):
        for d in deployments:
            d.scrape()


def measure(deployments: list[Deployment], receiver: OtlpReceiver, args: argparse.Namespace) -> int:
    """Runs both scenarios; returns the spans the measured calls exported."""
    spans = 0
    scraped = [d for d in deployments if d.mode != "off"]
    for stream in (False, True):
        scenario = f"stream/{args.chunks}" if stream else "whole"
        for d in deployments:  # warm up: connections, caches, the first spans' exporter
            asyncio.run(drive(d.cluster.base_url + "/v1/chat/completions", stream, 40, 8))
        time.sleep(SETTLE_S)
        stop = threading.Event()
        scraper = threading.Thread(target=scrape_every_second, args=(scraped, stop), daemon=True)
        scraper.start()
        before = {d.mode: d.read() for d in deployments}
        spans_before = len(receiver.spans)
        for turn in range(args.rounds):
            # Each round starts with the next deployment: none always runs first or last.
            for d in deployments[turn % 3 :] + deployments[: turn % 3]:
                url = d.cluster.base_url + "/v1/chat/completions"
                answered = asyncio.run(drive(url, stream, args.calls, args.concurrency))
                d.calls[scenario] = d.calls.get(scenario, 0) + answered
        time.sleep(SETTLE_S)
        stop.set()
        scraper.join()
        for d in deployments:
            after = d.read()
            d.cpu[scenario] = {name: after[name] - before[d.mode][name] for name in after}
        spans += len(receiver.spans) - spans_before
    return spans


def report(deployments: list[Deployment], spans: int) -> None:
    by_mode = {d.mode: d for d in deployments}
    scenarios = list(deployments[0].cpu)
    print(f"\nCPU ms per call, by service ({', '.join(SERVICES)}) and in all")
    print(f"{'scenario':<12}{'mode':<9}" + "".join(f"{s:>12}" for s in SERVICES) + f"{'all':>9}")
    for scenario in scenarios:
        for d in deployments:
            calls = d.calls[scenario]
            per = {name: d.cpu[scenario][name] * 1000 / calls for name in SERVICES}
            print(
                f"{scenario:<12}{d.mode:<9}"
                + "".join(f"{per[name]:>12.2f}" for name in SERVICES)
                + f"{sum(per.values()):>9.2f}"
            )
    print("\nAgainst `off` (CPU per call; when CPU bounds throughput, it falls as 1 - 1/ratio)")
    for scenario in scenarios:
        base = sum(by_mode["off"].cpu[scenario].values()) / by_mode["off"].calls[scenario]
        for mode in MODES[1:]:
            d = by_mode[mode]
            ratio = sum(d.cpu[scenario].values()) / d.calls[scenario] / base
            print(f"  {scenario:<12}{mode:<9} CPU x{ratio:.3f}   throughput {1 / ratio - 1:+.1%}")
    traced = sum(by_mode["tracing"].calls.values())
    print(f"\nspans exported per call (tracing): {spans / traced:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=150, help="calls per round per mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
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
