"""The size of what a call will send, known before it is sent.

Asking the provider to count every call would add a round trip to each; instead Rhone
estimates (about four characters a token, plus a few tokens a message) and calibrates the
estimate per model with the input tokens each answered call reports: the ratio of the two,
smoothed, scales the next estimates. Message sizes are computed once per message object a
session's context cache holds (context_cache.py), not on every call."""

from __future__ import annotations

import re

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

MESSAGE_OVERHEAD = 3  # role and separators
IMAGE_TOKENS = 85 * 4  # a low-detail image's flat cost in OpenAI's accounting, in characters
_SMOOTHING = 0.5
_DISTRUST = 1.5
_MARGIN = 1.05
_RATIO_BOUNDS = (0.2, 10.0)


def _part_chars(part: content.Part) -> int:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return len(part.text.text)
    if kind == "tool_call":
        return len(part.tool_call.name) + len(part.tool_call.arguments)
    if kind == "tool_result":
        return sum(_part_chars(p) for p in part.tool_result.content)
    if kind == "thinking":
        return len(part.thinking.text) + len(part.thinking.data)
    if kind == "file":
        return len(part.file.text) or len(part.file.data) // 3
    if kind == "image":
        return IMAGE_TOKENS
    return 0


def message_size(message: content.Message) -> int:
    """A message's raw estimate, before calibration."""
    chars = sum(_part_chars(part) for part in message.parts)
    return (chars + 3) // 4 + MESSAGE_OVERHEAD


def tools_size(request: gen.GenerateRequest) -> int:
    chars = sum(len(t.name) + len(t.description) + len(t.parameters_json) for t in request.tools)
    return (chars + 3) // 4


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
