"""CPU time and memory of a set of processes (and their children), read from /proc, so the
bench can print what a call and a streamed chunk cost the gateway, whatever else the machine
is doing."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pids: list[int]) -> list[int]:
    """The processes and all their descendants."""
    seen: list[int] = []
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack += _children(pid)
    return seen


def _process_clock(pid: int) -> int:
    """The clock of a process's CPU time, all its threads, dead ones included (Linux's
    MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED), as clock_getcpuclockid(3) makes it)."""
    return ((~pid) << 3) | 2


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds the processes (and their children) have run, to the nanosecond where the
    kernel gives a process's CPU clock, else in the clock ticks of /proc/<pid>/stat (10 ms:
    over a cell of a few hundred calls, a few percent of a process's share)."""
    total = 0.0
    for pid in tree(pids):
        try:
            total += time.clock_gettime(_process_clock(pid))
            continue
        except OSError:
            pass
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in tree(pids):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except OSError:
            continue
    return total


def pin(pids: list[int], cpus: set[int]) -> bool:
    """Pins every thread of the processes to `cpus`; False where affinity cannot be set."""
    try:
        for pid in tree(pids):
            for task in Path(f"/proc/{pid}/task").glob("*"):
                os.sched_setaffinity(int(task.name), cpus)
    except OSError:
        return False
    return True
