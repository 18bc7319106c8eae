"""RHONE_CPU_POLICY: `batch` runs every thread of a service under SCHED_BATCH, the threads
there at its start and the ones gRPC and uvicorn make later; `normal` leaves them be; `make
run`'s launcher asks for `batch` unless the environment says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from rhone.launcher import Cluster, Ports
from rhone.runtime.settings import ServingSettings

pytestmark = pytest.mark.skipif(
    not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is a Linux policy"
)

# Policies of a thread started before the call, of the main thread, and of one started after.
PROGRAM = """
import os, sys, threading
from rhone.runtime.cpu_policy import apply_cpu_policy
seen = {}
started = threading.Event()
release = threading.Event()
def before():
    started.set()
    release.wait()
    seen["before"] = os.sched_getscheduler(0)
early = threading.Thread(target=before)
early.start()
started.wait()
applied = apply_cpu_policy(sys.argv[1])
release.set()
early.join()
late = threading.Thread(target=lambda: seen.__setitem__("after", os.sched_getscheduler(0)))
late.start()
late.join()
print(applied, seen["before"], os.sched_getscheduler(0), seen["after"])
"""


def policies_after(policy: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, policy], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_batch_covers_threads_before_and_after() -> None:
    batch = str(os.SCHED_BATCH)
    assert policies_after("batch") == ["True", batch, batch, batch]


def test_normal_leaves_the_policy() -> None:
    other = str(os.SCHED_OTHER)
    assert policies_after("normal") == ["False", other, other, other]


def test_an_unknown_policy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RHONE_CPU_POLICY", "fast")
    with pytest.raises(ValidationError, match="cpu_policy"):
        ServingSettings()


def test_launcher_asks_for_batch_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RHONE_CPU_POLICY", raising=False)
    assert Cluster(Ports.free()).service_env()["RHONE_CPU_POLICY"] == "batch"
    monkeypatch.setenv("RHONE_CPU_POLICY", "normal")
    assert Cluster(Ports.free()).service_env()["RHONE_CPU_POLICY"] == "normal"
