"""What a compaction asks a model, what it keeps, and what a summary becomes when it comes back.
Pure.

The transcript is sent to the summarising model as text, not as turns: any provider takes it
that way (no tool-call pairing or role-alternation rules to satisfy), and the model reads it as
material to summarise rather than a conversation to continue."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

INSTRUCTIONS = (
    "You compact conversations. You are given the transcript of a conversation between a user "
    "and an AI assistant, including tool calls and their results. Write a summary that lets "
    "the assistant continue the conversation as if it still had the whole transcript: the "
    "user's goals and constraints, facts and names that were established, decisions taken and "
    "why, what the tools returned that still matters, the current state of the work, and what "
    "remains open. Be concise and factual; write only the summary."
)
# How a summary is introduced to the model when a later call sends the compaction item back.
PREAMBLE = "Summary of the earlier conversation (it replaces the turns it summarises):\n"

_ROLE_LABELS = {
    content.ROLE_SYSTEM: "SYSTEM",
    content.ROLE_DEVELOPER: "DEVELOPER",
    content.ROLE_USER: "USER",
    content.ROLE_ASSISTANT: "ASSISTANT",
    content.ROLE_TOOL: "TOOL",
}


def summary_request(
    model: str, messages: Iterable[content.Message], max_tokens: int = 0
) -> gen.GenerateRequest:
    """The request that asks `model` for the summary of `messages` (compaction parts in them
    must already be opened)."""
    request = gen.GenerateRequest(model=model, whole=True)
    request.messages.append(_text_message(content.ROLE_SYSTEM, INSTRUCTIONS))
    request.messages.append(
        _text_message(content.ROLE_USER, "Transcript:\n\n" + render_transcript(messages))
    )
    if max_tokens > 0:
        request.config.max_tokens = max_tokens
    return request


def render_transcript(messages: Iterable[content.Message]) -> str:
    blocks = []
    for message in messages:
        label = _ROLE_LABELS.get(message.role, "USER")
        lines = [line for part in message.parts if (line := _render_part(part))]
        if lines:
            blocks.append(f"{label}: " + "\n".join(lines))
    return "\n\n".join(blocks)


def _render_part(part: content.Part) -> str:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return part.text.text
    if kind == "tool_call":
        return f"[calls tool {part.tool_call.name} with {part.tool_call.arguments or '{}'}]"
    if kind == "tool_result":
        result = part.tool_result
        inner = " ".join(filter(None, (_render_part(p) for p in result.content)))
        error = " (error)" if result.is_error else ""
        return f"[tool {result.name or result.call_id} returned{error}: {inner}]"
    if kind == "thinking" and part.thinking.text and not part.thinking.redacted:
        return f"[thinking: {part.thinking.text}]"
    if kind == "image":
        return "[an image]"
    if kind == "file":
        file = part.file
        return file.text or f"[a file{': ' + file.filename if file.filename else ''}]"
    return ""


def kept_messages(messages: Iterable[content.Message]) -> list[content.Message]:
    """The user messages a compaction keeps verbatim, in order (OpenAI keeps every user
    message); earlier summaries go, sealed or opened, as the new summary covers them."""
    kept = []
    for message in messages:
        if message.role != content.ROLE_USER:
            continue
        parts = [part for part in message.parts if not is_summary(part)]
        if parts:
            kept.append(content.Message(role=message.role, parts=parts, name=message.name))
    return kept


def is_summary(part: content.Part) -> bool:
    """A compaction part, or one opened into its summary (as a stored turn holds it)."""
    return part.HasField("compaction") or (
        part.HasField("text") and part.text.text.startswith(PREAMBLE)
    )


def summary_part(text: str) -> content.Part:
    """What a compaction part becomes before a provider sees it."""
    return content.Part(text=content.TextPart(text=PREAMBLE + text))


def open_compactions(
    messages: Iterable[content.Message], open_part: Callable[[content.CompactionPart], str]
) -> None:
    """Replaces every compaction part, in place, with its summary's text; `open_part` raises
    when a part does not open."""
    for message in messages:
        for p, part in enumerate(message.parts):
            if part.HasField("compaction"):
                message.parts[p].CopyFrom(summary_part(open_part(part.compaction)))


def has_compactions(messages: Iterable[content.Message]) -> bool:
    return any(part.HasField("compaction") for message in messages for part in message.parts)


def _text_message(role: int, text: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=text))])  # type: ignore[arg-type]


__all__ = [
    "INSTRUCTIONS",
    "PREAMBLE",
    "has_compactions",
    "is_summary",
    "kept_messages",
    "open_compactions",
    "render_transcript",
    "summary_part",
    "summary_request",
]
