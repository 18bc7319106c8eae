"""Contract tests from outside the Python package: a Node client built from the .proto files
alone, and a Python client that has only the published stubs, each stream a Generate call,
continue its session and read its turns (docs/grpc.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rhone.launcher import Cluster
from tests.integration.conftest import API_KEY

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
CLIENT = ROOT / "tests" / "contracts" / "grpc" / "python_client.py"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_client_from_the_protos_alone(cluster: Cluster):
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
        pytest.fail("tests/node/node_modules is missing: run `make test` (it runs npm install)")
    result = subprocess.run(
        ["node", "--test", "grpc_gateway.test.mjs"],
        cwd=NODE_DIR,
        env={
            **os.environ,
            "RHONE_GRPC_TARGET": f"127.0.0.1:{cluster.ports.grpc}",
            "RHONE_API_KEY": API_KEY,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout


def published_stubs(into: Path) -> Path:
    """Only the generated modules, laid out as the package ships them."""
    for package in ("rhone/v1", "rhone/api/v1"):
        (into / package).mkdir(parents=True)
        for stub in (ROOT / package).glob("*_pb2*.py"):
            shutil.copy(stub, into / package / stub.name)
    for package in ("rhone", "rhone/api", "rhone/v1", "rhone/api/v1"):
        (into / package / "__init__.py").touch()
    return into


def test_python_client_with_only_the_published_stubs(cluster: Cluster, tmp_path: Path):
    stubs = published_stubs(tmp_path / "stubs")
    result = subprocess.run(
        [sys.executable, str(CLIENT)],
        cwd=tmp_path,
        env={
            **os.environ,
            # The stubs shadow the repository's rhone package (installed editable).
            "PYTHONPATH": str(stubs),
            "RHONE_GRPC_TARGET": f"127.0.0.1:{cluster.ports.grpc}",
            "RHONE_API_KEY": API_KEY,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["loaded_from"].startswith(str(stubs))
    assert seen["services_loaded"] is False
    first, second = seen["first"], seen["second"]
    assert first["order"][0] == "session" and first["order"][-1] == "turn"
    assert first["order"][1] == "started" and first["order"][-3:-1] == ["usage", "finished"]
    assert second["session_id"] == first["session_id"]
    assert 'This is user turn 2; your first message was: "hello from python"' in second["text"]
    assert seen["turn_ids"] == [first["turn_id"], second["turn_id"]]
    assert seen["turn_inputs"] == ["hello from python", "again from python"]
    assert seen["unknown_session_reason"] == "SESSION_NOT_FOUND"
