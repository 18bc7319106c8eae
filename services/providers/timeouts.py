"""How long Rhone waits for an upstream, per deployment.

A hung upstream must not hold a caller for the whole call deadline, and a deployment that hangs
must give way to the next one. Four bounds, each in seconds:

- ``connect_s``: opening the TCP (and TLS) connection.
- ``first_byte_s``: from sending a streamed request to its response headers *and* its first
  event (an upstream that answers 200 and then sends nothing, or only keep-alives, is hung).
- ``idle_s``: between two events of a stream once it has started. Keep-alive comments and
  pings are not events: they prove the connection, not progress.
- ``whole_s``: a non-streamed upstream call (the client did not stream) answers its headers
  only with the whole answer, so its wait is bounded by this, not by ``first_byte_s``.

A timeout before the first event moves the call to the next deployment (a deployment that hung
once is not asked again in the same call); after it, the stream ends with ``upstream_timeout``.
Defaults come from the environment (``RHONE_UPSTREAM_*_TIMEOUT_S``); a deployment or a named
provider of the routing config overrides any of them with ``timeouts: {first_byte_s: 30}``.
Reasoning models that think for minutes before their first token need a larger
``first_byte_s``/``idle_s`` on their deployment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import httpx

# Writing a request body and waiting for a pooled connection (256 per upstream) are not what
# hangs in practice; they keep fixed bounds.
_WRITE_S = 60.0
_POOL_S = 30.0


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    connect_s: float = 10.0
    first_byte_s: float = 120.0
    idle_s: float = 120.0
    whole_s: float = 600.0

    def http(self) -> httpx.Timeout:
        """httpx's own bounds: connect only. Reads are bounded by the connector (first byte,
        idle), which knows an event from a keep-alive; httpx sees only bytes."""
        return httpx.Timeout(connect=self.connect_s, read=None, write=_WRITE_S, pool=_POOL_S)

    def overridden(self, overrides: TimeoutOverrides | None) -> UpstreamTimeouts:
        if overrides is None:
            return self
        given = {f.name: getattr(overrides, f.name) for f in fields(overrides)}
        return replace(self, **{name: value for name, value in given.items() if value is not None})


DEFAULT_TIMEOUTS = UpstreamTimeouts()


@dataclass(frozen=True, slots=True)
class TimeoutOverrides:
    """The ``timeouts`` mapping of a routing-config entry or named provider; None: inherited."""

    connect_s: float | None = None
    first_byte_s: float | None = None
    idle_s: float | None = None
    whole_s: float | None = None


TIMEOUT_KEYS = tuple(f.name for f in fields(TimeoutOverrides))


def parse_overrides(value: Any, where: str) -> TimeoutOverrides | None:
    """A ``timeouts`` mapping to overrides; raises ValueError naming the place when wrong."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping of {', '.join(TIMEOUT_KEYS)}")
    unknown = set(value) - set(TIMEOUT_KEYS)
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise ValueError(f"{where}: unknown key(s) {names} (allowed: {', '.join(TIMEOUT_KEYS)})")
    seconds: dict[str, float] = {}
    for name, number in value.items():
        real = isinstance(number, int | float) and not isinstance(number, bool)
        if not real or not math.isfinite(number) or number <= 0:
            raise ValueError(f"{where}.{name}: must be a positive number of seconds")
        seconds[name] = float(number)
    return TimeoutOverrides(**seconds)
