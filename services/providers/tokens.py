"""Token counts when the routed upstream has no counting endpoint: an estimate of about four
characters a token over the text the prompt carries (the usual rule of thumb for BPE
tokenizers on English). Connectors with a real count (local, Anthropic, Gemini) use theirs."""

from __future__ import annotations

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen


def _part_chars(part: content.Part) -> int:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return len(part.text.text)
    if kind == "tool_call":
        return len(part.tool_call.name) + len(part.tool_call.arguments)
    if kind == "tool_result":
        return sum(_part_chars(p) for p in part.tool_result.content)
    if kind == "thinking":
        return len(part.thinking.text)
    if kind == "file":
        return len(part.file.text)
    if kind == "image":
        return 85 * 4  # a low-detail image's flat cost in OpenAI's accounting
    return 0


def estimate_tokens(request: gen.GenerateRequest) -> int:
    chars = sum(_part_chars(p) for m in request.messages for p in m.parts)
    chars += sum(len(t.name) + len(t.description) + len(t.parameters_json) for t in request.tools)
    overhead = 3 * len(request.messages)  # role and separators per message
    return (chars + 3) // 4 + overhead
