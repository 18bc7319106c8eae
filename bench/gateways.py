"""The processes `make bench` measures: the fake upstream, Rhone's four services, and the
peer gateway (LiteLLM's proxy, in its own venv). Each gateway runs alone on the gateway core;
the load generator and the upstream share the other one (bench/cpu.py pins them)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from rhone.launcher import Cluster, Ports, free_port

RHONE_KEY = "rk-bench"
ADMIN_KEY = "rhone_admin_bench"
PEER_KEY = "sk-peer-bench"
UPSTREAM_KEY = "sk-upstream"
# Limits the bench never reaches: what is measured is the cost of enforcing them, not
# refusals. They are roomy, so calls are admitted from blocks (docs/tenants.md, "Blocks").
BENCH_LIMITS = {
    "requests_per_minute": 10**9,
    "tokens_per_minute": 10**12,
    "concurrent_requests": 10**6,
}


@dataclass
class Gateway:
    """One gateway under test: where to send a chat completion, with which key, and the
    processes whose CPU and memory are its cost (none for the upstream itself)."""

    name: str
    url: str
    key: str
    pids: list[int] = field(default_factory=list)
    base_url: str = ""
    edge_pid: int = 0  # the process that holds client connections (Rhone's facade)


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


def start_rhone(upstream_url: str, workdir: Path, env: dict[str, str] | None = None) -> Cluster:
    """Rhone as `make run` deploys it: four processes, every call a turn in SQLite."""
    cluster = Cluster(
        Ports.free(),
        env={
            "RHONE_API_KEY": RHONE_KEY,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "OPENAI_BASE_URL": upstream_url,
            "RHONE_DATABASE_URL": f"sqlite:///{workdir}/rhone.db",
            "RHONE_LOG_LEVEL": "WARNING",
            "RHONE_ADMIN_KEY": ADMIN_KEY,
            "RHONE_LIMITS_PREFIX": "rhone-bench-" + secrets.token_hex(4),
            **(env or {}),
        },
        log_dir=workdir / "logs",
    )
    cluster.start()
    cluster.wait_ready(60)
    return cluster


def rhone_gateway(cluster: Cluster) -> Gateway:
    return Gateway(
        "rhone",
        cluster.base_url + "/v1/chat/completions",
        RHONE_KEY,
        [process.pid for process in cluster.processes.values()],
        cluster.base_url,
        cluster.processes["facade"].pid,
    )


def limited_key(base_url: str) -> str:
    """A key of its own tenant, with limits on it (docs/tenants.md)."""
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=base_url + "/v1/admin", headers=admin, timeout=30) as client:
        client.post("/tenants", json={"id": "bench-limited"}).raise_for_status()
        reply = client.post("/tenants/bench-limited/keys", json={"limits": BENCH_LIMITS})
        reply.raise_for_status()
        secret: str = reply.json()["secret"]
    return secret


def start_peer(
    peer_python: str, upstream: str, workdir: Path
) -> tuple[subprocess.Popen[bytes], Gateway]:
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-4o\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o\n"
        f"      api_base: {upstream}\n"
        f"      api_key: {UPSTREAM_KEY}\n"
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
    return process, Gateway("litellm", base + "/v1/chat/completions", PEER_KEY, [process.pid])
