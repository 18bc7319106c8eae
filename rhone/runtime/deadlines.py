"""A call's deadline, carried from the hop that received it to the hops it makes.

gRPC Python does not pass a server call's deadline on to the calls its handler makes, so each
handler records its own (`hold`), and outgoing calls take what is left (`remaining`). The
facade sets the first deadline (RHONE_CALL_TIMEOUT_S); every hop after it ends no later."""

from __future__ import annotations

import contextvars
import time

import grpc

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rhone_deadline", default=None
)


def hold(context: grpc.aio.ServicerContext) -> None:
    """Records the deadline of the call being served (each call runs in its own task, so
    its own context)."""
    remaining = context.time_remaining()
    _DEADLINE.set(None if remaining is None else time.monotonic() + remaining)


def remaining() -> float | None:
    """Seconds left for the call being served (never below zero), or None without a deadline."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)
