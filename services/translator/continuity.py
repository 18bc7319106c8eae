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

from rhone.context_policy import ContextPolicy, parse_policy
from rhone.errors import RhoneError
from rhone.ids import check_body_id
from rhone.jsonutil import refuse_unknown
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb

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
    # The response `from_response_id` names, as the caller's WebSocket kept it in memory (a
    # `store: false` response of the same socket): its context, not the database's.
    kept: tpb.KeptResponse | None = None
    # The call's own `rhone.context` policy (over the session's).
    context: ContextPolicy | None = None


@dataclass(slots=True)
class Composed:
    request: gen.GenerateRequest
    # What the turn records as its input.
    turn_input: list[content.Message]
    # The session's new default instructions, when the call sent a system prompt.
    instructions: list[content.Message] | None
    snapshot: bool
    # Where the stored context lies in request.messages (after the instructions, before the
    # call's new input): what a context policy may shorten.
    context_start: int = 0
    context_end: int = 0


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
    refuse_unknown(value, ("session_id", "context_mode", "context"), within="rhone")
    check_body_id(session_id, "rhone.session_id", "session id")
    context = parse_policy(value.get("context")) if "context" in value else None
    return Continuity(session_id=session_id, stateless=mode == "stateless", context=context)


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
    pair_tool_results(context, rest)
    full = gen.GenerateRequest()
    full.CopyFrom(request)
    del full.messages[:]
    instructions = system or session_instructions
    full.messages.extend([*instructions, *context, *rest])
    return Composed(
        request=full,
        turn_input=rest,
        instructions=system or None,
        snapshot=False,
        context_start=len(instructions),
        context_end=len(instructions) + len(context),
    )


def pair_tool_results(history: list[content.Message], new: list[content.Message]) -> None:
    """Gives tool results that name no known call the id of the call they answer.

    Some clients answer a call without its id (google-genai's functionResponse usually has
    none), so the dialect mints one; when the call lives only in the stored history, that id
    matches nothing and an upstream that pairs by id (Anthropic, OpenAI) would refuse the
    turn. Such a result answers the oldest unanswered call of the same tool."""
    if not any(part.HasField("tool_result") for message in new for part in message.parts):
        return  # nothing to pair: the history (hundreds of messages) is not read
    calls: list[tuple[str, str]] = []
    answered: set[str] = set()
    for message in [*history, *new]:
        for part in message.parts:
            if part.HasField("tool_call"):
                calls.append((part.tool_call.id, part.tool_call.name))
            elif part.HasField("tool_result"):
                answered.add(part.tool_result.call_id)
    known = {call_id for call_id, _ in calls}
    for message in new:
        for part in message.parts:
            if not part.HasField("tool_result") or part.tool_result.call_id in known:
                continue
            result = part.tool_result
            for call_id, name in calls:
                if call_id not in answered and (not result.name or name == result.name):
                    answered.discard(result.call_id)
                    result.call_id = call_id
                    result.name = result.name or name
                    answered.add(call_id)
                    break
