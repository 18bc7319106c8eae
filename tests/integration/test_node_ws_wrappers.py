"""The Node wrapper packages (clients/js/) run their own tests (node --test) against the running
services: the official openai and @anthropic-ai/sdk clients with connect() over rhone.ws.v1."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import API_KEY

CLIENTS_DIR = Path(__file__).parent.parent.parent / "clients" / "js"
# The protocol client the wrappers share (its tests need no server), then the three wrappers.
PACKAGES = ("rhone-ws-core", "vai-openai-chat", "vai-openai-responses", "vai-anthropic")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("package", PACKAGES)
def test_node_ws_wrapper_suite(base_url: str, package: str) -> None:
    directory = CLIENTS_DIR / package
    manifest = (directory / "package.json").read_text()
    if '"dependencies"' in manifest and not (directory / "node_modules").exists():
        pytest.fail(
            f"clients/js/{package}/node_modules is missing: run `make test` (it runs npm install)"
        )
    result = subprocess.run(
        ["node", "--test", "--test-reporter=tap"],
        cwd=directory,
        env={**os.environ, "RHONE_BASE_URL": base_url, "RHONE_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The suites skip themselves without a server: make sure every test ran here.
    assert re.search(r"^# skipped 0$", result.stdout, re.MULTILINE), result.stdout
    assert not re.search(r"^# pass 0$", result.stdout, re.MULTILINE), result.stdout
