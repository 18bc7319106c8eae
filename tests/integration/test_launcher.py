"""`make run` (python -m rhone.launcher) listens where RHONE_*_ADDR say, runs its services'
threads under SCHED_BATCH (RHONE_CPU_POLICY), and a service whose port another process holds
stops at start with a message naming the address, instead of sharing the port with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import openai
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rhone.launcher import free_port
from tests.integration.conftest import API_KEY


def serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture
def launcher_env() -> dict[str, str]:
    return {
        **os.environ,
        "RHONE_API_KEY": API_KEY,
        "RHONE_PORT": str(free_port()),
        # Not make run's 50060: another run on this machine may hold it.
        "RHONE_GRPC_PORT": str(free_port()),
        "RHONE_TRANSLATOR_ADDR": f"127.0.0.1:{free_port()}",
        "RHONE_SESSIONS_ADDR": f"127.0.0.1:{free_port()}",
        "RHONE_PROVIDERS_ADDR": f"127.0.0.1:{free_port()}",
    }


@pytest.fixture
def launcher(
    tmp_path: Path, launcher_env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    env = launcher_env
    output = tmp_path / "launcher.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rhone.launcher"],
            cwd=tmp_path,  # its SQLite file and key go under ./.rhone there
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 60
    while b"Rhone is ready" not in output.read_bytes():
        assert process.poll() is None, output.read_text()
        assert time.monotonic() < deadline, "the launcher did not report ready"
        time.sleep(0.1)


def test_the_launcher_listens_on_the_addresses_it_is_given(
    launcher: tuple[subprocess.Popen[bytes], Path], launcher_env: dict[str, str]
):
    process, output = launcher
    env = launcher_env
    wait_ready(process, output)
    for var in ("RHONE_TRANSLATOR_ADDR", "RHONE_SESSIONS_ADDR", "RHONE_PROVIDERS_ADDR"):
        assert serving(env[var]), var
    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{env['RHONE_PORT']}/v1", api_key=API_KEY, max_retries=0
    )
    answer = client.chat.completions.create(
        model="local", messages=[{"role": "user", "content": "hello"}]
    )
    assert (
        answer.choices[0].message.content
        == 'You said: "hello". This is user turn 1; your first message was: "hello".'
    )


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads threads from /proc")
def test_the_launchers_services_run_under_sched_batch(
    launcher: tuple[subprocess.Popen[bytes], Path], launcher_env: dict[str, str]
):
    process, output = launcher
    wait_ready(process, output)
    expected = os.SCHED_BATCH
    if launcher_env.get("RHONE_CPU_POLICY") == "normal":
        expected = os.SCHED_OTHER
    services = children(process.pid)
    assert len(services) == 4
    for pid in services:
        threads = [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]
        assert len(threads) > 1  # gRPC's or uvicorn's threads, made after the policy was set
        assert {os.sched_getscheduler(thread) for thread in threads} == {expected}


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port held by another listener that allows sharing (SO_REUSEPORT), as a second gRPC
    server would; a server that also asked for SO_REUSEPORT would silently share it."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


@pytest.mark.parametrize(
    ("service", "env_of"),
    [
        ("providers", lambda port: {"RHONE_PROVIDERS_ADDR": f"127.0.0.1:{port}"}),
        ("facade", lambda port: {"RHONE_PORT": str(port), "RHONE_HOST": "127.0.0.1"}),
    ],
)
def test_a_service_whose_port_is_taken_stops_with_a_clear_message(
    held_port: int, service: str, env_of
):  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        env={**os.environ, "RHONE_SERVICE_TOKEN": "test-service-token", **env_of(held_port)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode != 0
    output = (done.stdout + done.stderr).decode()
    assert str(held_port) in output, output
    assert "cannot listen" in output or "address already in use" in output, output
    assert "Traceback" not in output, output
