"""Prices per model, in US dollars per million tokens (input, cached input, output), so that
budgets and usage show money. Defaults for well-known models (their providers' public list
prices); the routing config's `prices:` table adds to and overrides them:

```yaml
prices:
  gpt-4.1: {input: 2.0, cached_input: 0.5, output: 8.0}
  my-finetune: {input: 1.0, output: 4.0}     # cached_input defaults to input
```

A model is priced by its exact name, else by the longest listed name it starts with (dated
snapshots such as claude-sonnet-4-5-20250929 take their family's price), after dropping a
`provider/` prefix. An unknown model costs nothing (and says so in the usage as 0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rhone.v1 import generation_pb2 as gen


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    cached_input: float
    output: float

    def cost(self, usage: gen.Usage) -> float:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        return (
            (usage.input_tokens - cached) * self.input
            + cached * self.cached_input
            + usage.output_tokens * self.output
        ) / 1_000_000


DEFAULT_PRICES: dict[str, Price] = {
    # https://openai.com/api/pricing/
    "gpt-5": Price(1.25, 0.125, 10.0),
    "gpt-5-mini": Price(0.25, 0.025, 2.0),
    "gpt-5-nano": Price(0.05, 0.005, 0.4),
    "gpt-4.1": Price(2.0, 0.5, 8.0),
    "gpt-4.1-mini": Price(0.4, 0.1, 1.6),
    "gpt-4.1-nano": Price(0.1, 0.025, 0.4),
    "gpt-4o": Price(2.5, 1.25, 10.0),
    "gpt-4o-mini": Price(0.15, 0.075, 0.6),
    "o3": Price(2.0, 0.5, 8.0),
    "o3-mini": Price(1.1, 0.55, 4.4),
    "o4-mini": Price(1.1, 0.275, 4.4),
    # https://www.anthropic.com/pricing (cache reads at a tenth of input)
    "claude-opus-4": Price(15.0, 1.5, 75.0),
    "claude-sonnet-4": Price(3.0, 0.3, 15.0),
    "claude-haiku-4-5": Price(1.0, 0.1, 5.0),
    "claude-3-5-haiku": Price(0.8, 0.08, 4.0),
    # https://ai.google.dev/gemini-api/docs/pricing (prompts up to 200k tokens)
    "gemini-2.5-pro": Price(1.25, 0.31, 10.0),
    "gemini-2.5-flash": Price(0.3, 0.075, 2.5),
    "gemini-2.5-flash-lite": Price(0.1, 0.025, 0.4),
    # Rhone's offline model.
    "local": Price(0.0, 0.0, 0.0),
}


class PriceTableError(ValueError):
    """The `prices:` table is malformed; the message names the place."""


def parse_prices(value: Any) -> dict[str, Price]:
    """The routing config's `prices:` table."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PriceTableError("prices: must be a mapping of model name to prices")
    table: dict[str, Price] = {}
    for model, entry in value.items():
        where = f"prices.{model}"
        if not isinstance(entry, Mapping) or "input" not in entry or "output" not in entry:
            raise PriceTableError(f"{where}: needs input and output (USD per million tokens)")
        unknown = set(entry) - {"input", "cached_input", "output"}
        if unknown:
            raise PriceTableError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        numbers = {k: entry.get(k, entry["input"]) for k in ("input", "cached_input", "output")}
        for key, number in numbers.items():
            if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
                raise PriceTableError(f"{where}.{key}: must be a number >= 0")
        table[str(model)] = Price(
            float(numbers["input"]), float(numbers["cached_input"]), float(numbers["output"])
        )
    return table


class PriceTable:
    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **(overrides or {})}
        self._by_length = sorted(self._prices, key=len, reverse=True)

    def price_of(self, model: str) -> Price | None:
        name = model.rpartition("/")[2]
        if name in self._prices:
            return self._prices[name]
        for known in self._by_length:
            if name.startswith(known):
                return self._prices[known]
        return None

    def cost(self, model: str, usage: gen.Usage) -> float:
        price = self.price_of(model)
        return 0.0 if price is None else price.cost(usage)


def load_price_table(routing_config_path: str) -> PriceTable:
    """The defaults plus the `prices:` table of the routing config file, when there is one."""
    if not routing_config_path:
        return PriceTable()
    import yaml

    with open(routing_config_path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    prices = data.get("prices") if isinstance(data, Mapping) else None
    return PriceTable(parse_prices(prices))
