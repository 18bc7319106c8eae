"""`make bench` cell: the cost of a long session's call against a first call, side by side.

A session's 100th call (99 stored turns of ~2 KB each, ~50k tokens of context) and a new
session's first call, both sending a ~2 KB message, alternated in one run against the same
instant fake upstream. The *added* latency of each is Rhone's time minus the upstream's own
time for the same payload (the direct call); the ratio of the two added latencies is the
number the issue bounds (<= 1.3). Run once with the translator's context cache
(RHONE_CONTEXT_CACHE_SESSIONS, default) and once without it, to show what the cache saves.

    python -m bench.long_session [--sessions 10] [--turns 100] [--samples 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.gateways import start_upstream
from rhone.launcher import Cluster, Ports

KEY = "rk-bench-long"
TURN_BYTES = 2048


def message(n: int) -> str:
    words = f"turn {n} " + "lorem ipsum dolor sit amet " * (TURN_BYTES // 27)
    return words[:TURN_BYTES]


@dataclass
class Cell:
    first_ms: float
    long_ms: float
    direct_small_ms: float
    direct_large_ms: float

    @property
    def added_first(self) -> float:
        return self.first_ms - self.direct_small_ms

    @property
    def added_long(self) -> float:
        return self.long_ms - self.direct_large_ms


def timed(client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str]) -> float:
    started = time.perf_counter()
    reply = client.post(url, json=body, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    reply.raise_for_status()
    return elapsed


def run_cell(upstream_url: str, args: argparse.Namespace, cache_sessions: int) -> Cell:
    with tempfile.TemporaryDirectory() as tmp:
        rhone = Cluster(
            Ports.free(),
            env={
                "RHONE_API_KEY": KEY,
                "OPENAI_API_KEY": "sk-upstream",
                "OPENAI_BASE_URL": upstream_url,
                "RHONE_DATABASE_URL": f"sqlite:///{tmp}/long.db",
                "RHONE_LOG_LEVEL": "WARNING",
                "RHONE_CONTEXT_CACHE_SESSIONS": str(cache_sessions),
            },
            log_dir=Path(tmp) / "logs",
        )
        rhone.start()
        try:
            rhone.wait_ready(60)
            return measure(rhone.base_url, upstream_url, args)
        finally:
            rhone.stop()


def measure(base_url: str, upstream_url: str, args: argparse.Namespace) -> Cell:
    url = base_url + "/v1/chat/completions"
    auth = {"Authorization": f"Bearer {KEY}"}
    direct = upstream_url + "/chat/completions"
    upstream_auth = {"Authorization": "Bearer sk-upstream"}
    with httpx.Client(timeout=120) as client:
        sessions = []
        for _ in range(args.sessions):
            first = client.post(
                url,
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": message(1)}]},
                headers=auth,
            ).json()
            session = first["rhone"]["session_id"]
            for n in range(2, args.turns):
                client.post(
                    url,
                    json={
                        "model": "gpt-4o",
                        "messages": [{"role": "user", "content": message(n)}],
                        "rhone": {"session_id": session},
                    },
                    headers=auth,
                ).raise_for_status()
            sessions.append(session)
        # What the upstream receives on a long call: the whole transcript.
        transcript = [
            {"role": role, "content": message(n)}
            for n in range(1, args.turns + 1)
            for role in ("user", "assistant")
        ][:-1]
        first_ms, long_ms, small_ms, large_ms = [], [], [], []
        for i in range(args.samples):
            new = {"model": "gpt-4o", "messages": [{"role": "user", "content": message(i)}]}
            first_ms.append(timed(client, url, new, auth))
            session = sessions[i % len(sessions)]
            more = {**new, "rhone": {"session_id": session}}
            long_ms.append(timed(client, url, more, auth))
            small_ms.append(timed(client, direct, new, upstream_auth))
            large = {"model": "gpt-4o", "messages": transcript}
            large_ms.append(timed(client, direct, large, upstream_auth))
    p50 = statistics.median
    return Cell(p50(first_ms), p50(long_ms), p50(small_ms), p50(large_ms))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    upstream, upstream_url = start_upstream(1)
    try:
        print(
            f"\nlong session: call {args.turns} of a session ({TURN_BYTES} B a turn) vs a "
            "first call; medians (ms)"
        )
        print(
            f"{'translator cache':<18}{'first':>8}{'long':>8}{'direct 1':>10}"
            f"{'direct N':>10}{'added 1':>9}{'added N':>9}{'ratio':>7}"
        )
        for label, cache in (("on (default)", 1000), ("off", 0)):
            cell = run_cell(upstream_url, args, cache)
            print(
                f"{label:<18}{cell.first_ms:>8.1f}{cell.long_ms:>8.1f}"
                f"{cell.direct_small_ms:>10.1f}{cell.direct_large_ms:>10.1f}"
                f"{cell.added_first:>9.1f}{cell.added_long:>9.1f}"
                f"{cell.added_long / cell.added_first:>7.2f}"
            )
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
