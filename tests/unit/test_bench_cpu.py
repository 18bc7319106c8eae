"""The bench's CPU counter (bench/cpu.py): a process's CPU time with its ended threads and its
children, finer than /proc's clock ticks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from bench import cpu

# A child that burns CPU in a thread that ends, then in a grandchild, then waits to be read.
_BURN = """
import time
def burn():
    end = time.process_time() + 0.15
    while time.process_time() < end:
        pass
"""
_GRANDCHILD = _BURN + "burn()\nprint('burnt', flush=True)\ntime.sleep(30)\n"
_CHILD = (
    _BURN
    + f"""
import subprocess, sys, threading
thread = threading.Thread(target=burn)
thread.start()
thread.join()
grandchild = subprocess.Popen([sys.executable, "-c", {_GRANDCHILD!r}], stdout=subprocess.PIPE)
grandchild.stdout.readline()
print("ready", flush=True)
time.sleep(30)
"""
)


def _ticks(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / cpu._TICK


def test_cpu_counts_ended_threads_and_children_finer_than_a_tick() -> None:
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        spent = cpu.cpu_seconds([child.pid])
        by_ticks = sum(_ticks(pid) for pid in cpu.tree([child.pid]))
        assert spent >= 0.3  # both burns: the ended thread's and the grandchild's
        assert abs(spent - by_ticks) <= 0.05
        assert spent != round(spent, 2)  # nanoseconds, not 10 ms ticks
    finally:
        for pid in cpu.tree([child.pid])[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        child.kill()
        child.wait()
