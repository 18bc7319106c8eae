"""The `rhone.context` policy object, as the facade (PATCH /v1/sessions/{id}) and the translator
(a call's `rhone` object) read it. Pure; what it means is in services/translator/context_policy.py
and docs/long-sessions.md."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from rhone.errors import RhoneError
from rhone.jsonutil import refuse_unknown

STRATEGIES = ("auto", "truncate", "compact", "error")
DEFAULT_STRATEGY = "auto"
EXCEEDED = "context_length_exceeded"


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    # Empty: not given (the session's, else auto).
    strategy: str = ""
    # 0: not given (the model's window decides).
    max_input_tokens: int = 0

    @property
    def effective_strategy(self) -> str:
        return self.strategy or DEFAULT_STRATEGY

    def over(self, base: ContextPolicy) -> ContextPolicy:
        """This policy's fields where given, else `base`'s."""
        return replace(
            base,
            strategy=self.strategy or base.strategy,
            max_input_tokens=self.max_input_tokens or base.max_input_tokens,
        )

    def to_json(self) -> str:
        fields: dict[str, Any] = {}
        if self.strategy:
            fields["strategy"] = self.strategy
        if self.max_input_tokens:
            fields["max_input_tokens"] = self.max_input_tokens
        return orjson.dumps(fields).decode() if fields else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.effective_strategy,
            "max_input_tokens": self.max_input_tokens or None,
        }


def parse_policy(value: Any, param: str = "rhone.context") -> ContextPolicy:
    """The policy object as a client writes it; anything else is a 400 naming the field."""
    if value is None:
        return ContextPolicy()
    if not isinstance(value, dict):
        raise RhoneError.invalid(f"'{param}' must be an object.", param=param)
    refuse_unknown(value, ("strategy", "max_input_tokens"), within=param)
    strategy = value.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise RhoneError.invalid(
            f"'{param}.strategy' must be one of {', '.join(STRATEGIES)}.",
            param=f"{param}.strategy",
        )
    limit = value.get("max_input_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise RhoneError.invalid(
            f"'{param}.max_input_tokens' must be a positive integer.",
            param=f"{param}.max_input_tokens",
        )
    return ContextPolicy(strategy=strategy or "", max_input_tokens=limit or 0)


def stored_policy(policy_json: str) -> ContextPolicy:
    """A session's stored policy (written by parse_policy's caller, so well-formed)."""
    return parse_policy(orjson.loads(policy_json)) if policy_json else ContextPolicy()
