"""How a service's threads are scheduled: RHONE_CPU_POLICY (ServingSettings.cpu_policy).

`batch` runs every thread of the process under Linux's SCHED_BATCH (sched(7)): the same
fair share of the CPU as the default policy, but a thread that wakes does not preempt the
one running. The services hand each call to each other, so when they share cores (`make run`,
whose launcher sets `batch`) a service that has just sent a message to another would
otherwise be cut off mid-call by the receiver waking, and the two take turns on the core
message by message. `normal` (the default; a service alone on its cores gains nothing) keeps
the policy the process was started with.

Set at a service's start, before gRPC and uvicorn make their threads, which inherit it; the
threads already there are set one by one. No privilege is needed for SCHED_BATCH. Where the
system has no such policy, the service runs as it would with `normal` and says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

CpuPolicy = Literal["normal", "batch"]

log = logging.getLogger("rhone.runtime")


def apply_cpu_policy(policy: CpuPolicy) -> bool:
    """Runs the process's threads under `policy`; False when it is `normal` or the system
    cannot."""
    if policy == "normal":
        return False
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is None:
        log.warning("RHONE_CPU_POLICY=batch: this system has no SCHED_BATCH; not applied")
        return False
    try:
        for thread in _threads():
            os.sched_setscheduler(thread, batch, os.sched_param(0))
    except OSError as exc:
        log.warning("RHONE_CPU_POLICY=batch could not be applied: %s", exc)
        return False
    log.info("threads run under SCHED_BATCH (RHONE_CPU_POLICY=batch)")
    return True


def _threads() -> list[int]:
    """The process's threads (0: the calling one, where /proc cannot list them)."""
    try:
        return [int(task.name) for task in Path("/proc/self/task").iterdir()]
    except OSError:
        return [0]
