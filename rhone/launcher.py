"""Runs all four services on one machine, each its own process talking gRPC to the others.

`python -m rhone.launcher` (what `make run` does): services on 127.0.0.1, the facade on
RHONE_PORT (8080), the public gRPC API on RHONE_GRPC_PORT (50060), SQLite under ./.rhone/, and
an API key: RHONE_API_KEY, or one generated once and kept in ./.rhone/api_key (so are the admin
key, RHONE_ADMIN_KEY, and the secret keys are hashed with, RHONE_KEY_HMAC_SECRET). The services
prove their identity to each other with RHONE_SERVICE_TOKEN, or one generated for each run
(docs/grpc.md). RHONE_TRANSLATOR_ADDR, RHONE_SESSIONS_ADDR and RHONE_PROVIDERS_ADDR, when set,
are where those services listen and are reached. The integration tests start the same Cluster
on free ports."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rhone.runtime.service_identity import SERVICE_TOKEN_KEY

SERVICES = ("sessions", "providers", "translator", "facade")
# The gRPC services serve Prometheus metrics on ports of their own (the facade on its HTTP port).
GRPC_SERVICES = ("sessions", "providers", "translator")
# The gRPC services, and the variable that holds each one's address.
ADDRESS_VARS = {
    "sessions": "RHONE_SESSIONS_ADDR",
    "providers": "RHONE_PROVIDERS_ADDR",
    "translator": "RHONE_TRANSLATOR_ADDR",
}


# Ports handed out below the kernel's ephemeral range: a port the kernel gives to someone's
# bind(0) or outgoing connection between our check and the service's own bind would answer
# in the service's place (a gRPC server's port answering a readiness probe).
_PORTS_BELOW = 20000
_PORT_TRIES = 64
_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def free_port() -> int:
    """A loopback port nobody listens on, outside the ephemeral range where the system has
    one (a random one; bind(0) where it has none or none is free)."""
    high = _ephemeral_low()
    for _ in range(_PORT_TRIES if high > _PORTS_BELOW else 0):
        port = secrets.randbelow(high - _PORTS_BELOW) + _PORTS_BELOW
        if port in _HANDED_OUT:  # handed out already, perhaps not bound yet
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Ports:
    facade: int
    translator: int
    sessions: int
    providers: int
    # The facade's public gRPC API (docs/grpc.md).
    grpc: int = 0

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    @classmethod
    def default(cls) -> Ports:
        return cls(
            int(os.environ.get("RHONE_PORT", "8080")),
            50061,
            50062,
            50063,
            int(os.environ.get("RHONE_GRPC_PORT", "50060")),
        )


@dataclass
class Cluster:
    """The four service processes. `env` is added to the current environment."""

    ports: Ports
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    only: tuple[str, ...] = SERVICES
    metrics_ports: dict[str, int] = field(
        default_factory=lambda: {name: free_port() for name in GRPC_SERVICES}
    )
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # What the services prove themselves to each other with: RHONE_SERVICE_TOKEN, or one made
    # for this cluster only.
    service_token: str = field(
        default_factory=lambda: os.environ.get("RHONE_SERVICE_TOKEN") or secrets.token_urlsafe(32),
        repr=False,
    )
    _logs: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # One token per deployment: a cluster started with the same env (a second facade in
        # front of the first one's services) proves the same identity.
        self.service_token = self.env.setdefault("RHONE_SERVICE_TOKEN", self.service_token)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.facade}"

    def service_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RHONE_PORT": str(self.ports.facade),
            "RHONE_HOST": "127.0.0.1",
            "RHONE_TRANSLATOR_ADDR": f"127.0.0.1:{self.ports.translator}",
            "RHONE_SESSIONS_ADDR": f"127.0.0.1:{self.ports.sessions}",
            "RHONE_PROVIDERS_ADDR": f"127.0.0.1:{self.ports.providers}",
            "RHONE_METRICS_HOST": "127.0.0.1",
            **{
                f"RHONE_{name.upper()}_METRICS_PORT": str(port)
                for name, port in self.metrics_ports.items()
            },
            "RHONE_SERVICE_TOKEN": self.service_token,
            # Four services on the same cores hand each call to each other: a thread that
            # wakes waits for the running one to block (rhone/runtime/cpu_policy.py).
            "RHONE_CPU_POLICY": os.environ.get("RHONE_CPU_POLICY", "batch"),
            **({"RHONE_GRPC_LISTEN": f"127.0.0.1:{self.ports.grpc}"} if self.ports.grpc else {}),
            **self.env,
        }

    def service_metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata that lets a caller outside the cluster (a test) call an internal
        service directly."""
        return ((SERVICE_TOKEN_KEY, self.service_token),)

    def start(self) -> None:
        env = self.service_env()
        for name in self.only:
            self.start_service(name, env)

    def start_service(self, name: str, env: dict[str, str] | None = None) -> None:
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")
            self._logs.append(out)
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=env or self.service_env(),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )

    def stop_service(self, name: str, timeout: float = 15) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait_ready(self, timeout: float = 60) -> None:
        """Until every service started here is ready: the facade's /readyz, and the gRPC
        health of the others (the facade's readiness does not depend on its peers)."""
        env = self.service_env()
        targets = {name: env[var] for name, var in ADDRESS_VARS.items() if name in self.processes}
        channels = {name: _health_channel(target, env) for name, target in targets.items()}
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited with {process.returncode}")
                if all(_serving(channel) for channel in channels.values()) and (
                    "facade" not in self.processes or _http_ready(self.base_url + "/readyz")
                ):
                    return
                time.sleep(0.1)
        finally:
            for channel in channels.values():
                channel.close()
        raise TimeoutError("Rhone did not become ready in time")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        for out in self._logs:
            out.close()
        self._logs.clear()


def _health_channel(target: str, env: dict[str, str]) -> grpc.Channel:
    """A channel for health checks (open to any caller), over TLS when the services use it."""
    paths = [env.get(f"RHONE_TLS_{part}", "") for part in ("CA", "KEY", "CERT")]
    if not all(paths):
        return grpc.insecure_channel(target)
    ca, key, cert = (Path(path).read_bytes() for path in paths)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    return grpc.secure_channel(target, credentials)


def _serving(channel: grpc.Channel) -> bool:
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _http_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def api_key(state_dir: Path) -> str:
    """RHONE_API_KEY, or the key generated on the first run and kept under ./.rhone/."""
    return kept_secret(state_dir, "RHONE_API_KEY", "api_key", "rk-")


def kept_secret(state_dir: Path, env_name: str, file_name: str, prefix: str = "") -> str:
    """The env var's value, or a secret generated on the first run and kept under ./.rhone/."""
    if value := os.environ.get(env_name):
        return value
    path = state_dir / file_name
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    value = prefix + secrets.token_urlsafe(24)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def compaction_secret(state_dir: Path) -> str:
    """RHONE_COMPACTION_SECRET, or one generated on the first run and kept under ./.rhone/, so
    that compaction items survive a restart of `make run`."""
    if secret := os.environ.get("RHONE_COMPACTION_SECRET"):
        return secret
    path = state_dir / "compaction_secret"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def main() -> None:
    state_dir = Path(".rhone")
    key = api_key(state_dir)
    admin_key = kept_secret(state_dir, "RHONE_ADMIN_KEY", "admin_key", "rhone_admin_")
    hmac_secret = kept_secret(state_dir, "RHONE_KEY_HMAC_SECRET", "key_hmac_secret")
    addresses = {var: os.environ[var] for var in ADDRESS_VARS.values() if os.environ.get(var)}
    cluster = Cluster(
        Ports.default(),
        env={
            "RHONE_API_KEY": key,
            "RHONE_ADMIN_KEY": admin_key,
            "RHONE_KEY_HMAC_SECRET": hmac_secret,
            "RHONE_COMPACTION_SECRET": compaction_secret(state_dir),
            **addresses,
        },
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    cluster.start()
    try:
        cluster.wait_ready()
        print(
            f"\nRhone is ready: {cluster.base_url}/v1\n"
            f"API key: {key}\n"
            f"Admin key (/v1/admin, rhone-admin): {admin_key}\n"
            f"gRPC API (docs/grpc.md): 127.0.0.1:{cluster.ports.grpc}\n"
            "Try: model 'local'. Stop with Ctrl-C.\n",
            flush=True,
        )
        while not stopping:
            for name, process in cluster.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
