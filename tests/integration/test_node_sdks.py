"""The official Node SDKs run their own tests (node --test) against the running services."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import API_KEY

NODE_DIR = Path(__file__).parent.parent / "node"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(
    "suite", ["openai_chat.test.mjs", "openai_responses.test.mjs", "anthropic.test.mjs"]
)
def test_node_sdk_suite(base_url: str, suite: str):
    if not (NODE_DIR / "node_modules").exists():
        pytest.fail("tests/node/node_modules is missing: run `make test` (it runs npm install)")
    result = subprocess.run(
        ["node", "--test", suite],
        cwd=NODE_DIR,
        env={**os.environ, "RHONE_BASE_URL": base_url, "RHONE_API_KEY": API_KEY},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
