"""Prompt caching on a session's stable prefix.

A session gives Rhone what a client-side transcript does not: it knows which part of the
prompt is the same as last call's (the instructions, the tools, the stored turns) and which is
new. So, unless the client placed its own breakpoints, a session's call carries
`cache_control` breakpoints (canonical Part/Tool.cache_control; only the Anthropic encoder
sends them: https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching) after the
last tool, the last instruction and the last stored turn: three of Anthropic's four. And
every session call carries a cache key derived from the session (OpenAI's prompt_cache_key,
and the providers service's session affinity among equal deployments)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from services.translator.continuity import Composed

EPHEMERAL = "ephemeral"
# Kinds Anthropic accepts a breakpoint on (not thinking blocks).
_MARKABLE = ("text", "tool_call", "tool_result", "image", "file")


def cache_key(tenant_id: str, session_id: str) -> str:
    """Stable per session, and reveals neither the session id nor the tenant to a provider."""
    digest = hashlib.sha256(f"rhone-cache\x00{tenant_id}\x00{session_id}".encode()).hexdigest()
    return "rhone-" + digest[:32]


def client_set_breakpoints(request: gen.GenerateRequest) -> bool:
    return any(tool.cache_control.type for tool in request.tools) or any(
        part.cache_control.type for message in request.messages for part in message.parts
    )


def mark_stable_prefix(composed: Composed, tenant_id: str, session_id: str) -> None:
    """Sets the cache key and, unless the client set breakpoints of its own, places Rhone's
    (in place)."""
    request = composed.request
    if not session_id:
        return
    request.cache_key = cache_key(tenant_id, session_id)
    if client_set_breakpoints(request):
        return
    if request.tools:
        request.tools[len(request.tools) - 1].cache_control.type = EPHEMERAL
    messages = request.messages
    _mark_last(messages[: composed.context_start])
    _mark_last(messages[composed.context_start : composed.context_end])


def _mark_last(messages: Sequence[content.Message]) -> None:
    """A breakpoint on the last part that can carry one, of the last message that has one."""
    for message in reversed(messages):
        for part in reversed(message.parts):
            if part.WhichOneof("kind") in _MARKABLE and not _empty_text(part):
                part.cache_control.type = EPHEMERAL
                return


def _empty_text(part: content.Part) -> bool:
    return part.HasField("text") and not part.text.text


def strip_breakpoints(messages: Sequence[content.Message]) -> None:
    """Clears every part's breakpoint, in place (what a turn records)."""
    for message in messages:
        for part in message.parts:
            part.ClearField("cache_control")
