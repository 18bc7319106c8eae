"""A session's context policy and the pure rules that fit a context into a model's window
(docs/long-sessions.md).

`rhone.context` = {"strategy": "auto" | "truncate" | "compact" | "error", "max_input_tokens": N}
is given per call (the `rhone` object) or set on the session (PATCH /v1/sessions/{id}); the
call's fields override the session's. When what a call would send is over its budget:
- error: a 400 `context_length_exceeded`, in the surface's error shape;
- truncate: the oldest stored turns are left out (the instructions and the call's new input
  never are), cutting only where no tool call is parted from its result;
- compact: the older turns are replaced by a summary, recorded as a snapshot turn so it is
  made once; the turns kept verbatim take at most a quarter of the budget;
- auto (default): compact, and truncate what still does not fit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from rhone.context_policy import EXCEEDED, ContextPolicy, parse_policy, stored_policy
from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content
from services.translator.continuity import Continuity

__all__ = ["ContextPolicy", "parse_policy", "stored_policy"]


def input_budget(
    context_window: int, max_output_tokens: int, requested_max_tokens: int, max_input: int
) -> int:
    """What the input may take: the window less the room kept for the answer (the call's
    max_tokens, capped by the model's output limit since it never writes more; without one,
    the model's output limit up to a quarter of the window), and at most the policy's
    max_input_tokens."""
    if requested_max_tokens:
        reserve = min(requested_max_tokens, max_output_tokens or requested_max_tokens)
    else:
        reserve = min(max_output_tokens, context_window // 4)
    budget = max(1, context_window - reserve)
    return min(budget, max_input) if max_input else budget


def cut_points(context: Sequence[content.Message]) -> list[int]:
    """Where the stored context may start, ascending: an index of a user message (providers
    want the conversation to open with one) such that no tool result after it answers a call
    before it; and len(context) (everything left out)."""
    called_at: dict[str, int] = {}
    # A cut at i parts the call at a from its result at b when a < i <= b.
    parted = [0] * (len(context) + 2)
    for index, message in enumerate(context):
        for part in message.parts:
            if part.HasField("tool_call"):
                called_at.setdefault(part.tool_call.id, index)
            elif part.HasField("tool_result") and part.tool_result.call_id in called_at:
                parted[called_at[part.tool_result.call_id] + 1] += 1
                parted[index + 1] -= 1
    cuts = []
    open_pairs = 0
    for index, message in enumerate(context):
        open_pairs += parted[index]
        if (
            not open_pairs
            and message.role == content.ROLE_USER
            and not any(part.HasField("tool_result") for part in message.parts)
        ):
            cuts.append(index)
    cuts.append(len(context))
    return cuts


def first_fitting_cut(
    context: Sequence[content.Message], fits: Callable[[int], bool], *, minimum: int = 0
) -> int | None:
    """The smallest cut at or after `minimum` for which `fits(cut)`: as much of the stored
    context as fits. None when even leaving all of it out does not."""
    for cut in cut_points(context):
        if cut >= minimum and fits(cut):
            return cut
    return None


def too_long(estimate: int, budget: int, model: str) -> RhoneError:
    return RhoneError.invalid(
        f"The conversation is too long for the model '{model}': about {estimate} tokens of "
        f"input against a budget of {budget}. Set `rhone.context.strategy` to 'auto', "
        "'truncate' or 'compact' to let Rhone fit it, or start a new session.",
        param="messages",
        detail=EXCEEDED,
    )


# OpenAI Responses' own `truncation`: "auto" drops items from the start of the conversation,
# "disabled" (OpenAI's default) fails with a 400 when the input is too long
# (https://platform.openai.com/docs/api-reference/responses/create#responses-create-truncation).
_RESPONSES_TRUNCATION = {"auto": "truncate", "disabled": "error"}


def with_responses_truncation(continuity: Continuity, truncation: Any) -> Continuity:
    """A Responses call's `truncation`, when sent, as the strategy of its context policy;
    an explicit `rhone.context.strategy` wins."""
    strategy = _RESPONSES_TRUNCATION.get(truncation) if isinstance(truncation, str) else None
    given = continuity.context or ContextPolicy()
    if strategy is None or given.strategy:
        return continuity
    return dataclasses.replace(continuity, context=dataclasses.replace(given, strategy=strategy))
