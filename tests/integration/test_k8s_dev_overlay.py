"""The dev overlay, run as Kubernetes would run it, short of Kubernetes: the migration Job's
command, then each Deployment's command as a local process with exactly the environment and
files its container gets from the rendered manifests. Only what a cluster provides is swapped
in: Service names become loopback ports, and the in-cluster PostgreSQL the real one (a schema of
its own, with a DML-only role for serving, as in the overlay). The gateway must then answer the
official SDK with the overlay's API key, every probe must pass, and every service must drain
within its pod's grace period on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import openai
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.kustomize import render
from deploy.workloads import workloads
from rhone.api.v1 import gateway_pb2, gateway_pb2_grpc
from rhone.launcher import SERVICES, free_port
from tests.integration.test_sessions_migrate import Database, database  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "deploy" / "k8s" / "overlays" / "dev"


def command(argv: list[str]) -> list[str]:
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def grpc_serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture
def gateway(database: Database, tmp_path: Path) -> Iterator[dict[str, Any]]:  # noqa: F811
    objects = render(DEV)
    found = workloads(objects)
    job = next(o for o in objects if o["kind"] == "Job")
    job_container = job["spec"]["template"]["spec"]["containers"][0]
    migrate = subprocess.run(
        command(job_container["command"]),
        env={"PATH": os.environ["PATH"], "RHONE_DATABASE_URL": database.owner_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    ports = {name: free_port() for name in (*SERVICES, "grpc")}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        for name in ("sessions", "providers", "translator", "facade"):
            env = found[name].local_env(
                host="127.0.0.1",
                port=ports[name],
                peers={peer: f"127.0.0.1:{port}" for peer, port in ports.items()},
                files_dir=tmp_path / "files",
                overrides={"RHONE_GRPC_LISTEN": f"127.0.0.1:{ports['grpc']}"}
                if name == "facade"
                else None,
            )
            if "RHONE_DATABASE_URL" in env:
                env["RHONE_DATABASE_URL"] = database.app_url
            with open(logs / f"{name}.log", "wb") as out:
                processes[name] = subprocess.Popen(
                    command(found[name].command),
                    env={"PATH": os.environ["PATH"], **env},
                    cwd=ROOT,
                    stdout=out,
                    stderr=out,
                )
        deadline = time.monotonic() + 60
        wait_http(f"http://127.0.0.1:{ports['facade']}/readyz", deadline)
        yield {"ports": ports, "processes": processes, "objects": objects, "logs": logs}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_dev_overlay_serves_the_sdk_and_drains_within_its_grace_periods(
    gateway: dict[str, Any],
) -> None:
    ports, processes = gateway["ports"], gateway["processes"]
    # The probes the manifests declare.
    wait_http(f"http://127.0.0.1:{ports['facade']}/healthz", time.monotonic() + 5)
    for name in ("translator", "sessions", "providers"):
        assert grpc_serving(ports[name]), name

    # The overlay's API key (its generated Secret) reaches sessions, and the local model answers.
    key = workloads(gateway["objects"])["sessions"].env["RHONE_API_KEY"]
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{ports['facade']}/v1", api_key=key, max_retries=0
    )
    whole = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "hello from the dev overlay"}]
    )
    assert whole.choices[0].message.content
    stream = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "stream please"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    # The public gRPC API, with the same key; its services reach the others with the
    # overlay's service token.
    with grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}") as channel:
        listed = gateway_pb2_grpc.GatewayStub(channel).ListModels(
            gateway_pb2.ListModelsRequest(),
            metadata=(("authorization", f"Bearer {key}"),),
            timeout=10,
        )
    assert "local" in [m.id for m in listed.models]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"http://127.0.0.1:{ports['facade']}/v1", api_key="wrong", max_retries=0
        ).models.list()

    # SIGTERM, as the kubelet sends it: each service exits within its pod's grace period.
    graces = {
        o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"][
            "template"
        ]["spec"]["terminationGracePeriodSeconds"]
        for o in gateway["objects"]
        if o["kind"] == "Deployment"
    }
    for name in ("facade", "translator", "providers", "sessions"):
        processes[name].send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = processes[name].wait(graces[name])
        took = time.monotonic() - started
        log = (gateway["logs"] / f"{name}.log").read_text()
        # uvicorn re-raises SIGTERM once its graceful shutdown is done; the others exit 0.
        assert code in (0, -signal.SIGTERM), f"{name} exited {code}: {log}"
        print(f"{name}: drained in {took:.2f} s (grace {graces[name]} s)")
