"""A socket's limits (docs/rhone-ws-v1.md), from the facade's settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SocketLimits:
    max_calls_in_flight: int = 16
    max_queued_bytes: int = 4 * 1024 * 1024
    idle_timeout_s: float = 300.0
    # Responses WebSocket mode: the `store: false` responses a socket keeps in memory.
    max_kept_responses: int = 16
    max_kept_bytes: int = 32 * 1024 * 1024
