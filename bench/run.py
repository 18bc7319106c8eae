"""`make bench`: Rhone against a peer gateway (LiteLLM's proxy), side by side, on the same fake
OpenAI upstream, with the same load; prints each gateway's numbers and Rhone's ratios.

The upstream answers instantly, so what is measured is each gateway's own cost per request
and per streamed chunk. Rhone runs as it is deployed: four processes, gRPC between them,
every call recorded as a turn of a new session in SQLite. The peer forwards statelessly.
Numbers vary with the machine; compare the ratios, not the absolute values."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx

from bench.load import Result, run_load
from rhone.launcher import Cluster, Ports, free_port

RHONE_KEY = "rk-bench"
ADMIN_KEY = "rhone_admin_bench"
# Limits the bench never reaches: what is measured is the cost of enforcing them (one Redis
# script per call to admit it, one to settle it), not refusals.
BENCH_LIMITS = {
    "requests_per_minute": 10**9,
    "tokens_per_minute": 10**12,
    "concurrent_requests": 10**6,
}
PEER_KEY = "sk-peer-bench"
MESSAGES = [{"role": "user", "content": "Say something."}]


def wait_http(url: str, timeout: float = 120, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status < 500:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in time")


def start_upstream(chunks: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", "--port", str(port), "--chunks", str(chunks)]
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(base + "/v1/chat/completions", data=b"{}"), timeout=2
            ):
                return process, base + "/v1"
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the bench upstream did not start")


def start_peer(
    peer_python: str, upstream: str, workdir: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o\n"
        f"      api_base: {upstream}\n"
        "      api_key: sk-upstream\n"
        "general_settings:\n"
        f"  master_key: {PEER_KEY}\n"
    )
    litellm = str(Path(peer_python).parent / "litellm")
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
    }
    process = subprocess.Popen(
        [litellm, "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health/liveliness", headers={"Authorization": f"Bearer {PEER_KEY}"})
    return process, base


def limited_key(base_url: str) -> str:
    """A key of its own tenant, with limits on it (docs/tenants.md)."""
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=base_url + "/v1/admin", headers=admin, timeout=30) as client:
        client.post("/tenants", json={"id": "bench-limited"}).raise_for_status()
        reply = client.post("/tenants/bench-limited/keys", json={"limits": BENCH_LIMITS})
        reply.raise_for_status()
        secret: str = reply.json()["secret"]
    return secret


async def measure(name: str, url: str, key: str, stream: bool, args: argparse.Namespace) -> Result:
    body: dict = {"model": "gpt-4o", "messages": MESSAGES, "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}
    await run_load(url, headers, body, concurrency=args.concurrency, total=args.warmup)
    return await run_load(url, headers, body, concurrency=args.concurrency, total=args.requests)


def print_table(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print(
        f"\n{'scenario':<12}{'gateway':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'ttfb p50':>10}{'errors':>8}"
    )
    for scenario, gateway, s in rows:
        print(
            f"{scenario:<12}{gateway:<10}{s['rps']:>9.1f}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}"
            f"{s['ttfb_p50_ms']:>10.1f}{int(s['errors']):>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-python", default="", help="python of the venv with litellm")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--skip-peer", action="store_true", help="measure Rhone only")
    args = parser.parse_args()
    args.skip_peer = args.skip_peer or not args.peer_python

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        upstream, upstream_url = start_upstream(args.chunks)
        rhone = Cluster(
            Ports.free(),
            env={
                "RHONE_API_KEY": RHONE_KEY,
                "OPENAI_API_KEY": "sk-upstream",
                "OPENAI_BASE_URL": upstream_url,
                "RHONE_DATABASE_URL": f"sqlite:///{tmp}/b.db",
                "RHONE_LOG_LEVEL": "WARNING",
                "RHONE_ADMIN_KEY": ADMIN_KEY,
                "RHONE_LIMITS_PREFIX": "rhone-bench-" + secrets.token_hex(4),
            },
            log_dir=workdir / "logs",
        )
        peer = None
        try:
            rhone.start()
            rhone.wait_ready(60)
            limited = limited_key(rhone.base_url)
            rhone_url = rhone.base_url + "/v1/chat/completions"
            gateways = [
                ("direct", upstream_url + "/chat/completions", "sk-upstream"),
                ("rhone", rhone_url, RHONE_KEY),
                ("rhone+lim", rhone_url, limited),
            ]
            if not args.skip_peer:
                peer, peer_url = start_peer(args.peer_python, upstream_url, workdir)
                gateways.append(("litellm", peer_url + "/v1/chat/completions", PEER_KEY))
            rows: list[tuple[str, str, dict[str, float]]] = []
            for stream in (False, True):
                scenario = f"stream/{args.chunks}" if stream else "whole"
                for gateway, url, key in gateways:
                    result = asyncio.run(measure(gateway, url, key, stream, args))
                    rows.append((scenario, gateway, result.summary()))
            print_table(rows)
            by = {(s, g): v for s, g, v in rows}
            print("\nCost of enforcing limits (a limited key against the same key without)")
            for scenario in dict.fromkeys(s for s, _, _ in rows):
                plain, lim = by[(scenario, "rhone")], by[(scenario, "rhone+lim")]
                print(
                    f"  {scenario:<12} p50 +{lim['p50_ms'] - plain['p50_ms']:.2f} ms   "
                    f"throughput x{lim['rps'] / plain['rps']:.3f}"
                )
            if args.skip_peer:
                return
            print("\nRhone / LiteLLM (throughput: higher is better; latency: lower is better)")
            for scenario in dict.fromkeys(s for s, _, _ in rows):
                r, p = by[(scenario, "rhone")], by[(scenario, "litellm")]
                print(
                    f"  {scenario:<12} throughput x{r['rps'] / p['rps']:.2f}   "
                    f"p50 x{r['p50_ms'] / p['p50_ms']:.2f}   p99 x{r['p99_ms'] / p['p99_ms']:.2f}"
                )
        finally:
            rhone.stop()
            for process in (peer, upstream):
                if process is not None:
                    process.terminate()
                    process.wait(10)


if __name__ == "__main__":
    main()
