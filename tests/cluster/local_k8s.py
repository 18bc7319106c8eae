"""A rendered overlay, run as local processes: what the multi-replica test stands on.

Each Deployment's container command and env come from the render (deploy.workloads, whose
`local_env` places them on this machine); each replica is a process on a loopback address of
its own (127.0.0.2, 127.0.0.3, ...), all the replicas of a Deployment on one port, as pods
share their container port. A headless Service's `dns:///name:port` target becomes
`ipv4:addr1:port,addr2:port,...`: every replica's address, as its DNS name resolves to every
pod (https://grpc.github.io/grpc/core/md_doc_naming.html).
A Deployment may have spare addresses, listed in its target from the start but with no process
yet: where a replica scaled up later comes to life.

What stands in for the rest of Kubernetes: the Secrets the overlay expects to exist (given as
plain data), mounted ConfigMap files (written under a directory of the run, and the env values
that name their paths rewritten), the migration Job (run once, before the Deployments), and the
probes (readiness is the container's own readinessProbe, gRPC health or HTTP GET)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.workloads import Workload, workloads


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    """A Secret object as `kubectl create secret generic` would make it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def port_free_on(addresses: list[str], port: int) -> bool:
    for address in addresses:
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


def free_port_on(addresses: list[str]) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        if port_free_on(addresses, port):
            return port


@dataclass
class Replica:
    deployment: str
    index: int
    address: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Deployment:
    """One Deployment of the render, with its replicas' addresses and its local port."""

    workload: Workload
    probe: dict[str, Any]
    port: int
    replicas: list[Replica]

    @property
    def name(self) -> str:
        return self.workload.component

    @property
    def target(self) -> str:
        """What a headless Service's name resolves to: every replica, started or not."""
        return "ipv4:" + ",".join(f"{r.address}:{self.port}" for r in self.replicas)


@dataclass
class LocalCluster:
    objects: list[dict[str, Any]]
    root: Path
    # The Secrets the overlay expects to exist in its namespace: name -> key -> value.
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    # Settings of this run on top of the manifests' (a fast fake upstream, say).
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    # Addresses held back per Deployment for replicas started later.
    spares: dict[str, int] = field(default_factory=dict)
    first_address: int = 2
    deployments: dict[str, Deployment] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.objects = [*self.objects, *(secret(n, d) for n, d in self.secrets.items())]
        found = workloads(self.objects)
        containers = {
            obj["metadata"]["labels"]["app.kubernetes.io/component"]: obj["spec"]["template"][
                "spec"
            ]["containers"][0]
            for obj in self.objects
            if obj["kind"] == "Deployment"
        }
        next_address = self.first_address
        for name, workload in found.items():
            if workload.unresolved:
                raise ValueError(f"{name}: nothing provides {workload.unresolved}")
            count = workload.replicas + self.spares.get(name, 0)
            addresses = [f"127.0.0.{next_address + i}" for i in range(count)]
            next_address += count
            self.deployments[name] = Deployment(
                workload=workload,
                probe=containers[name]["readinessProbe"],
                port=free_port_on(addresses),
                replicas=[Replica(name, i, a) for i, a in enumerate(addresses)],
            )

    # -- what a replica runs

    def log_dir(self) -> Path:
        return Path(os.environ.get("RHONE_TEST_LOGS", self.root / "logs")) / "multi-replica"

    def files_dir(self) -> Path:
        return self.root / "mounts"

    def env_of(self, replica: Replica) -> dict[str, str]:
        deployment = self.deployments[replica.deployment]
        return deployment.workload.local_env(
            host=replica.address,
            port=deployment.port,
            peers={name: d.target for name, d in self.deployments.items()},
            files_dir=self.files_dir(),
            overrides=self.overrides.get(replica.deployment),
        )

    def command_of(self, workload_command: list[str]) -> list[str]:
        command = list(workload_command)
        if command and command[0] in ("python", "python3"):
            command[0] = sys.executable
        return command

    # -- lifecycle

    def run_jobs(self, timeout: float = 60) -> None:
        """Every Job of the render, to completion (the schema migration)."""
        for obj in self.objects:
            if obj["kind"] != "Job":
                continue
            container = obj["spec"]["template"]["spec"]["containers"][0]
            env = {}
            for item in container.get("env") or []:
                if "value" in item:
                    env[item["name"]] = str(item["value"])
                else:
                    ref = item["valueFrom"]["secretKeyRef"]
                    env[item["name"]] = self.secrets[ref["name"]][ref["key"]]
            command = self.command_of([*container["command"], *container.get("args", [])])
            done = subprocess.run(
                command, env={**os.environ, **env}, capture_output=True, timeout=timeout
            )
            if done.returncode != 0:
                raise RuntimeError(f"Job {obj['metadata']['name']} failed: {done.stderr!r}")

    def start(self, name: str, index: int) -> Replica:
        replica = self.deployments[name].replicas[index]
        workload = self.deployments[name].workload
        replica.log = self.log_dir() / f"{name}-{index}.log"
        replica.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(replica.log, "ab")
        self._logs.append(out)
        replica.process = subprocess.Popen(
            self.command_of(workload.command),
            env={**os.environ, **self.env_of(replica)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        return replica

    def start_all(self) -> None:
        for name, deployment in self.deployments.items():
            for index in range(deployment.workload.replicas):
                self.start(name, index)

    def ready(self, replica: Replica) -> bool:
        """The replica's readinessProbe, as the kubelet runs it."""
        deployment = self.deployments[replica.deployment]
        if not replica.running:
            return False
        if "grpc" in deployment.probe:
            with grpc.insecure_channel(f"{replica.address}:{deployment.port}") as channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=""), timeout=2
                    )
                except grpc.RpcError:
                    return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
        path = deployment.probe["httpGet"]["path"]
        try:
            url = f"http://{replica.address}:{deployment.port}{path}"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def wait_ready(self, replicas: list[Replica], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(replicas)
        while waiting:
            for replica in waiting:
                if replica.process is not None and replica.process.poll() is not None:
                    raise RuntimeError(
                        f"{replica.deployment}-{replica.index} exited with "
                        f"{replica.process.returncode}: see {replica.log}"
                    )
            waiting = [r for r in waiting if not self.ready(r)]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready: {[(r.deployment, r.index) for r in waiting]}")
            time.sleep(0.2)

    def running(self) -> list[Replica]:
        return [r for d in self.deployments.values() for r in d.replicas if r.running]

    def signal(self, replica: Replica, sig: int) -> None:
        assert replica.process is not None
        replica.process.send_signal(sig)

    def stop(self) -> None:
        for replica in self.running():
            self.signal(replica, signal.SIGTERM)
        for replica in self.running():
            assert replica.process is not None
            try:
                replica.process.wait(40)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()
        for out in self._logs:
            out.close()
