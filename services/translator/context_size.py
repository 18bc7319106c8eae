"""The size of what a call will send, known before it is sent.

Asking the provider to count every call would add a round trip to each; instead Rhone
estimates (rhone/token_estimate.py: about four characters a token, plus a few tokens a message)
and calibrates the estimate per model with the input tokens each answered call reports: the
ratio of the two, smoothed, scales the next estimates. Message sizes are computed once per
message object a session's context cache holds (context_cache.py), not on every call."""

from __future__ import annotations

import re

_SMOOTHING = 0.5
_DISTRUST = 1.5
_MARGIN = 1.05
_RATIO_BOUNDS = (0.2, 10.0)


class Calibration:
    """Per model: how many of its tokens one raw estimated token turns out to be."""

    def __init__(self) -> None:
        self._ratio: dict[str, float] = {}

    def scale(self, model: str, raw: int) -> int:
        return int(raw * self._ratio.get(model, 1.0)) + 1

    def observe(self, model: str, raw: int, actual: int) -> None:
        """Learns from an answered call: `raw` estimated, `actual` reported by the provider."""
        if raw <= 0 or actual <= 0:
            return
        low, high = _RATIO_BOUNDS
        seen = min(high, max(low, actual / raw))
        before = self._ratio.get(model)
        self._ratio[model] = seen if before is None else before + _SMOOTHING * (seen - before)

    def distrust(self, model: str, raw: int = 0, refusal: str = "") -> None:
        """A provider refused a prompt this estimate said would fit: count larger from now,
        by what the refusal says the prompt measured when it says it, else by half again."""
        ratio = self._ratio.get(model, 1.0) * _DISTRUST
        measured = refused_size(refusal)
        if measured and raw > 0:
            ratio = max(ratio, measured / raw * _MARGIN)
        self._ratio[model] = min(_RATIO_BOUNDS[1], ratio)


# How providers say how long a refused prompt was: OpenAI (and the local model) "...resulted
# in N tokens", Anthropic "prompt is too long: N tokens > M maximum".
_REFUSED_SIZE = (
    re.compile(r"resulted in (\d+) tokens"),
    re.compile(r"(\d+) tokens > \d+ maximum"),
)


def refused_size(message: str) -> int:
    for pattern in _REFUSED_SIZE:
        found = pattern.search(message)
        if found:
            return int(found.group(1))
    return 0
