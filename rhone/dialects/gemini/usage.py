"""usageMetadata <-> canonical Usage.

Gemini counts thinking apart from the answer (``candidatesTokenCount`` excludes
``thoughtsTokenCount``) and tool-use prompts apart from the prompt; canonical ``output_tokens``
includes reasoning and ``input_tokens`` is the whole prompt (see rhone.dialects.base).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.v1 import generation_pb2 as gen


def usage_of(metadata: Mapping[str, Any]) -> gen.Usage:
    def count(key: str) -> int:
        value = metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    thoughts = count("thoughtsTokenCount")
    return gen.Usage(
        input_tokens=count("promptTokenCount") + count("toolUsePromptTokenCount"),
        output_tokens=count("candidatesTokenCount") + thoughts,
        cached_input_tokens=count("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def usage_metadata(usage: gen.Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_input_tokens:
        out["cachedContentTokenCount"] = usage.cached_input_tokens
    return out
