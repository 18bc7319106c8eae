"""The `rhone` continuity object and what it means for the messages a call sends. Pure.

- Stateful (default): the session's stored context, then the call's new messages. A system
  prompt sent with a call applies to that call, and the session keeps the last one as its
  default for the calls that send none.
- Stateless (`context_mode: "stateless"`): the transcript exactly as sent. It is still
  recorded, as a snapshot turn: a later stateful call continues from that transcript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

_SYSTEM_ROLES = (content.ROLE_SYSTEM, content.ROLE_DEVELOPER)


@dataclass(frozen=True, slots=True)
class Continuity:
    session_id: str = ""
    stateless: bool = False
    # Continue from the turn a surface response id names (OpenAI Responses'
    # previous_response_id): its session if it is the latest turn, else a branch at it.
    from_response_id: str = ""
    # False: read the context but record nothing (OpenAI Responses' store: false).
    record: bool = True


@dataclass(slots=True)
class Composed:
    request: gen.GenerateRequest
    # What the turn records as its input.
    turn_input: list[content.Message]
    # The session's new default instructions, when the call sent a system prompt.
    instructions: list[content.Message] | None
    snapshot: bool


def parse_continuity(value: Any) -> Continuity:
    """Reads the top-level `rhone` object of a request body."""
    if value is None:
        return Continuity()
    if not isinstance(value, dict):
        raise RhoneError.invalid("'rhone' must be an object.", param="rhone")
    session_id = value.get("session_id") or ""
    if not isinstance(session_id, str):
        raise RhoneError.invalid("'rhone.session_id' must be a string.", param="rhone.session_id")
    mode = value.get("context_mode", "stateful")
    if mode not in ("stateful", "stateless"):
        raise RhoneError.invalid(
            "'rhone.context_mode' must be 'stateful' or 'stateless'.", param="rhone.context_mode"
        )
    unknown = set(value) - {"session_id", "context_mode"}
    if unknown:
        raise RhoneError.invalid(
            f"Unknown field(s) in 'rhone': {', '.join(sorted(unknown))}.", param="rhone"
        )
    return Continuity(session_id=session_id, stateless=mode == "stateless")


def split_instructions(
    messages: list[content.Message],
) -> tuple[list[content.Message], list[content.Message]]:
    """The leading system/developer messages, and the rest."""
    cut = 0
    while cut < len(messages) and messages[cut].role in _SYSTEM_ROLES:
        cut += 1
    return messages[:cut], messages[cut:]


def compose(
    request: gen.GenerateRequest,
    context: list[content.Message],
    session_instructions: list[content.Message],
    stateless: bool,
) -> Composed:
    system, rest = split_instructions(list(request.messages))
    if stateless:
        return Composed(
            request=request, turn_input=rest, instructions=system or None, snapshot=True
        )
    full = gen.GenerateRequest()
    full.CopyFrom(request)
    del full.messages[:]
    full.messages.extend([*(system or session_instructions), *context, *rest])
    return Composed(request=full, turn_input=rest, instructions=system or None, snapshot=False)
