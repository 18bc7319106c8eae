"""The routing config file (YAML, path in ``RHONE_ROUTING_CONFIG``): model aliases with their
ordered deployments, and named OpenAI-compatible servers.

```yaml
providers:                      # named OpenAI-compatible servers (vLLM, Ollama, llama.cpp...)
  vllm:
    base_url: http://10.0.0.5:8000/v1
    api_key_env: VLLM_API_KEY   # optional: the env var holding its key
    api: chat                   # or responses (POST {base_url}/responses)
models:
  fast: anthropic/claude-haiku-4-5          # one deployment
  smart:                                    # tried in order: failover
    - anthropic/claude-sonnet-4-5
    - openai/gpt-4.1
  balanced:                                 # equal priority: weighted random order
    - {provider: openai, model: gpt-4o, priority: 0, weight: 3}
    - {provider: vllm, model: llama-3.1-70b, priority: 0, weight: 1}
  reasoner:
    - {provider: openai, model: o3, api: responses, timeouts: {first_byte_s: 600, idle_s: 300}}
  tiny:                                     # this deployment's own limits
    - {provider: vllm, model: qwen-7b, context_window: 32768, max_output_tokens: 4096}
limits:                                     # a model's or an alias's limits, by its name
  smart: {context_window: 200000, max_output_tokens: 32000}
  vllm/llama-3.1-70b: {context_window: 131072}
```

An entry is ``provider/model``, a bare model name (routed by family), or a mapping with
``provider`` and ``model`` and optionally ``base_url``, ``api_key_env``, ``weight`` (> 0,
default 1), ``priority`` (default: the entry's position) and ``api`` (``chat`` or
``responses``; OpenAI and named servers only), ``timeouts`` (any of ``connect_s``,
``first_byte_s``, ``idle_s``, ``whole_s``: services/providers/timeouts.py; a named provider
may carry them too, an entry's win), ``context_window`` and ``max_output_tokens`` (positive
integers: this deployment's limits, see model_limits.py). Parsing is pure and fails with a
message that says where the file is wrong, so a bad file stops the service at start, not at
the first call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rhone.pricing import PriceTableError, parse_prices
from services.providers.timeouts import TimeoutOverrides, parse_overrides

BUILTIN_PROVIDERS = ("local", "openai", "anthropic", "gemini", "vertex")
APIS = ("chat", "responses")
_LIMIT_KEYS = frozenset({"context_window", "max_output_tokens"})
_ENTRY_KEYS = frozenset(
    {"provider", "model", "base_url", "api_key_env", "weight", "priority", "api", "timeouts"}
    | _LIMIT_KEYS
)
_PROVIDER_KEYS = frozenset({"base_url", "api_key_env", "api", "timeouts"})


class RoutingConfigError(ValueError):
    """The routing config is malformed; the message names the place."""


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One deployment of an alias, as written. ``provider`` empty: ``model`` routes by family."""

    provider: str
    model: str
    base_url: str = ""
    api_key_env: str = ""
    weight: float = 1.0
    priority: int = 0
    api: str = ""
    timeouts: TimeoutOverrides | None = None
    # This deployment's limits as written (0: the model's known limits).
    context_window: int = 0
    max_output_tokens: int = 0

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.provider else self.model


@dataclass(frozen=True, slots=True)
class NamedProvider:
    """An OpenAI-compatible server known by a name of its own."""

    name: str
    base_url: str
    api_key_env: str = ""
    api: str = "chat"
    timeouts: TimeoutOverrides | None = None


@dataclass(frozen=True, slots=True)
class LimitsSpec:
    """A model's or an alias's limits as written under ``limits`` (0: not given)."""

    context_window: int = 0
    max_output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    models: Mapping[str, tuple[DeploymentSpec, ...]] = field(default_factory=dict)
    providers: Mapping[str, NamedProvider] = field(default_factory=dict)
    # Limits by model name: an alias, ``provider/model``, or a bare upstream model name.
    limits: Mapping[str, LimitsSpec] = field(default_factory=dict)


def load_routing_config(path: str) -> RoutingConfig:
    """The config in the file at ``path``; an empty path is an empty config."""
    if not path:
        return RoutingConfig()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingConfigError(f"{path}: cannot read the routing config: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_routing_config(data)
    except RoutingConfigError as exc:
        raise RoutingConfigError(f"{path}: {exc}") from None


def parse_routing_config(data: Any) -> RoutingConfig:
    """A parsed YAML document to the config. ``None`` (an empty file) is an empty config."""
    if data is None:
        return RoutingConfig()
    top = _mapping(data, "the routing config")
    unknown = set(top) - {"models", "providers", "prices", "limits"}
    if unknown:
        raise RoutingConfigError(
            f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}"
        )
    try:  # the facade prices calls with it (rhone/pricing.py); a bad table stops us here too
        parse_prices(top.get("prices"))
    except PriceTableError as exc:
        raise RoutingConfigError(str(exc)) from None
    providers = _providers(top.get("providers"))
    known = set(BUILTIN_PROVIDERS) | set(providers)
    models: dict[str, tuple[DeploymentSpec, ...]] = {}
    for name, value in _mapping(top.get("models") or {}, "models").items():
        where = f"models.{name}"
        if not isinstance(name, str) or not name:
            raise RoutingConfigError(f"{where}: a model name must be a non-empty string")
        entries = value if isinstance(value, list) else [value]
        if not entries:
            raise RoutingConfigError(f"{where}: lists no deployment")
        models[name] = tuple(
            _entry(entry, f"{where}[{i}]", i, known, providers) for i, entry in enumerate(entries)
        )
    return RoutingConfig(models=models, providers=providers, limits=_limits(top.get("limits")))


def _limits(value: Any) -> dict[str, LimitsSpec]:
    limits: dict[str, LimitsSpec] = {}
    for name, spec in _mapping(value or {}, "limits").items():
        where = f"limits.{name}"
        if not isinstance(name, str) or not name:
            raise RoutingConfigError(f"{where}: a model name must be a non-empty string")
        fields = _mapping(spec, where)
        _only(fields, _LIMIT_KEYS, where)
        limits[name] = LimitsSpec(
            context_window=_size(fields.get("context_window"), f"{where}.context_window"),
            max_output_tokens=_size(fields.get("max_output_tokens"), f"{where}.max_output_tokens"),
        )
    return limits


def _size(value: Any, where: str) -> int:
    """A token count: a positive integer, or absent (0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RoutingConfigError(f"{where}: must be a positive integer")
    return value


def _providers(value: Any) -> dict[str, NamedProvider]:
    providers: dict[str, NamedProvider] = {}
    for name, spec in _mapping(value or {}, "providers").items():
        where = f"providers.{name}"
        if not isinstance(name, str) or not name or "/" in name:
            raise RoutingConfigError(f"{where}: a provider name is a non-empty string without '/'")
        if name in BUILTIN_PROVIDERS:
            raise RoutingConfigError(f"{where}: '{name}' is a built-in provider")
        fields = _mapping(spec, where)
        _only(fields, _PROVIDER_KEYS, where)
        base_url = _string(fields.get("base_url"), f"{where}.base_url")
        if not base_url:
            raise RoutingConfigError(f"{where}.base_url: required")
        providers[name] = NamedProvider(
            name=name,
            base_url=base_url,
            api_key_env=_string(fields.get("api_key_env"), f"{where}.api_key_env"),
            api=_api(fields.get("api"), f"{where}.api") or "chat",
            timeouts=_timeouts(fields.get("timeouts"), f"{where}.timeouts"),
        )
    return providers


def _entry(
    value: Any,
    where: str,
    position: int,
    known: set[str],
    providers: Mapping[str, NamedProvider],
) -> DeploymentSpec:
    if isinstance(value, str):
        provider, model = _split(value, where, known)
        return DeploymentSpec(provider=provider, model=model, priority=position)
    fields = _mapping(value, where)
    _only(fields, _ENTRY_KEYS, where)
    provider = _string(fields.get("provider"), f"{where}.provider")
    model = _string(fields.get("model"), f"{where}.model")
    if not provider or not model:
        raise RoutingConfigError(f"{where}: needs both 'provider' and 'model'")
    if provider not in known:
        raise RoutingConfigError(f"{where}.provider: unknown provider '{provider}'")
    api = _api(fields.get("api"), f"{where}.api")
    if api == "responses" and provider != "openai" and provider not in providers:
        raise RoutingConfigError(
            f"{where}.api: 'responses' is for openai and named OpenAI-compatible servers only"
        )
    return DeploymentSpec(
        provider=provider,
        model=model,
        base_url=_string(fields.get("base_url"), f"{where}.base_url"),
        api_key_env=_string(fields.get("api_key_env"), f"{where}.api_key_env"),
        weight=_weight(fields.get("weight", 1), f"{where}.weight"),
        priority=_priority(fields.get("priority", position), f"{where}.priority"),
        api=api,
        timeouts=_timeouts(fields.get("timeouts"), f"{where}.timeouts"),
        context_window=_size(fields.get("context_window"), f"{where}.context_window"),
        max_output_tokens=_size(fields.get("max_output_tokens"), f"{where}.max_output_tokens"),
    )


def _split(value: str, where: str, known: set[str]) -> tuple[str, str]:
    """``provider/model``, or a bare model name (empty provider: route by family)."""
    provider, sep, model = value.partition("/")
    if not sep:
        if not value:
            raise RoutingConfigError(f"{where}: empty deployment")
        return "", value
    if provider not in known:
        raise RoutingConfigError(f"{where}: unknown provider '{provider}' in '{value}'")
    if not model:
        raise RoutingConfigError(f"{where}: '{value}' names no model")
    return provider, model


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise RoutingConfigError(f"{where}: expected a mapping")
    return value


def _only(fields: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = set(fields) - allowed
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise RoutingConfigError(
            f"{where}: unknown key(s) {names} (allowed: {', '.join(sorted(allowed))})"
        )


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RoutingConfigError(f"{where}: expected a string")
    return value


def _api(value: Any, where: str) -> str:
    api = _string(value, where)
    if api and api not in APIS:
        raise RoutingConfigError(f"{where}: '{api}' is not one of {', '.join(APIS)}")
    return api


def _weight(value: Any, where: str) -> float:
    # bool is an int in Python; `weight: yes` is a mistake, not 1.
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value <= 0:
        raise RoutingConfigError(f"{where}: must be a positive number")
    return float(value)


def _timeouts(value: Any, where: str) -> TimeoutOverrides | None:
    try:
        return parse_overrides(value, where)
    except ValueError as exc:
        raise RoutingConfigError(str(exc)) from None


def _priority(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RoutingConfigError(f"{where}: must be an integer")
    return value
