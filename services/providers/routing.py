"""Model routing: a model name to the ordered deployments that can serve it. Pure.

In order: an alias of the routing config (its deployments, in the config's order), on every
surface; ``local`` and ``local/*`` (the offline local model); ``provider/model`` (a built-in
provider or a named OpenAI-compatible server of the config); a bare name by family: ``gpt-*``,
``o1*``, ``o3*``, ``o4*``, ``chatgpt-*`` to OpenAI, ``claude-*`` to Anthropic, ``gemini-*`` to
the calling surface's home provider (the Vertex surface: Vertex; the Gemini surface: Gemini),
else to Gemini (to Vertex when only Vertex is configured). A model whose provider has no key
configured is a 404 that says which key is missing. An alias's deployments without their key
are left out; the alias is a 404 only when none is left.

Weights: deployments of equal ``priority`` are tried in a weighted random order
(``weighted_order``); lower priorities first. Without explicit priorities every deployment
has its own (its position), so a plain list is tried in order."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby

from rhone.errors import Code, RhoneError
from services.providers.config import ProvidersSettings
from services.providers.routing_config import DeploymentSpec, RoutingConfig
from services.providers.timeouts import DEFAULT_TIMEOUTS, UpstreamTimeouts


@dataclass(frozen=True, slots=True)
class Deployment:
    # The provider's name as reported to callers: a built-in one, or a named server's.
    provider: str
    # The model name the upstream knows.
    model: str
    base_url: str = ""
    api_key: str = ""
    # The connector that speaks to it (a key of the connector map); empty: `provider`.
    connector: str = ""
    weight: float = 1.0
    priority: int = 0
    # How long to wait for it (the settings' defaults, overridden by the routing config).
    timeouts: UpstreamTimeouts = DEFAULT_TIMEOUTS
    # The limits the routing config gives this deployment (0: the model's known ones).
    context_window: int = 0
    max_output_tokens: int = 0

    @property
    def connector_name(self) -> str:
        return self.connector or self.provider

    def __repr__(self) -> str:  # never print the key
        return f"Deployment({self.provider}/{self.model} @ {self.base_url or 'default'})"


OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
GEMINI_DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

# Connector names beyond the providers' own.
OPENAI_RESPONSES = "openai-responses"
OPENAI_COMPATIBLE = "openai-compatible"

_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")
_GOOGLE = ("gemini", "vertex")
_GOOGLE_FAMILY = "gemini-"
_DISPLAY = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "vertex": "Vertex AI",
}


def vertex_default_base_url(location: str) -> str:
    """Regional endpoints are ``{location}-aiplatform``; ``global`` (and express mode) has none."""
    if not location or location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class _Missing(Exception):
    """A deployment whose key is not configured: the 404 message, and the short reason an
    alias's message lists."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class Router:
    """Routes model names with the settings' keys, the routing config and the environment
    (for ``api_key_env``), all given: no I/O."""

    def __init__(
        self,
        settings: ProvidersSettings,
        config: RoutingConfig | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.config = config or RoutingConfig()
        self.env = env or {}

    def route(self, model: str, home_provider: str = "") -> list[Deployment]:
        """The deployments for a model name, in config order (see ``weighted_order``).
        ``home_provider``: where the calling surface sends a bare ``gemini-*`` name that no
        alias claims (aliases come first on every surface)."""
        specs = self.config.models.get(model)
        if specs is not None:
            return self._alias(model, specs)
        provider, upstream = self._split(model)
        if not provider and home_provider in _GOOGLE and upstream.startswith(_GOOGLE_FAMILY):
            provider = home_provider
        try:
            return [self._resolve(DeploymentSpec(provider, upstream), model)]
        except _Missing as exc:
            raise _not_found(exc.message + self._other_google_hint(provider, model)) from None

    def _other_google_hint(self, provider: str, model: str) -> str:
        """A ``gemini-*`` name on one Google surface whose provider is not configured while the
        other one is: how to reach the one that is."""
        if provider not in _GOOGLE or "/" in model or not model.startswith(_GOOGLE_FAMILY):
            return ""
        other = "gemini" if provider == "vertex" else "vertex"
        if not self._enabled(other):
            return ""
        surface = (
            "the Gemini API surface (/v1beta/models/...)"
            if other == "gemini"
            else "the Vertex AI surface (.../publishers/google/models/...)"
        )
        return (
            f" {_name(other)} is configured: call the model through {surface}, or route "
            f"'{model}' to it with an alias in the routing config ('{model}': "
            f"['{other}/{model}'])."
        )

    def models(self) -> list[tuple[str, str]]:
        """(model id, provider) pairs to list: routable aliases, then each enabled provider."""
        listed = [("local", "local")]
        for alias in self.config.models:
            try:
                listed.append((alias, self.route(alias)[0].provider))
            except RhoneError:
                continue
        for provider in [*_DISPLAY, *self.config.providers]:
            if self._enabled(provider):
                listed.append((f"{provider}/*", provider))
        return listed

    # -- resolution -------------------------------------------------------------------------

    def _alias(self, alias: str, specs: tuple[DeploymentSpec, ...]) -> list[Deployment]:
        deployments: list[Deployment] = []
        missing: list[str] = []
        for spec in specs:
            try:
                deployments.append(self._resolve(spec, alias))
            except _Missing as exc:
                missing.append(f"{spec.label}: {exc.reason}")
            except RhoneError:  # a bare name of no known family
                missing.append(f"{spec.label}: no provider family matches it")
        if not deployments:
            raise _not_found(
                f"The model '{alias}' has no configured deployment ({'; '.join(missing)})."
            )
        return deployments

    def _split(self, model: str) -> tuple[str, str]:
        if model == "local" or model.startswith("local/"):
            return "local", model
        provider, sep, rest = model.partition("/")
        if sep and rest and (provider in _DISPLAY or provider in self.config.providers):
            return provider, rest
        return "", model

    def _resolve(self, spec: DeploymentSpec, asked: str) -> Deployment:
        provider = spec.provider or self._family(spec.model, asked)
        if provider == "local":
            return Deployment(
                "local",
                spec.model,
                weight=spec.weight,
                priority=spec.priority,
                context_window=spec.context_window,
                max_output_tokens=spec.max_output_tokens,
            )
        named = self.config.providers.get(provider)
        key_env = spec.api_key_env or (named.api_key_env if named else "")
        if key_env:
            key = self.env.get(key_env, "")
            if not key:
                message = (
                    f"The model '{asked}' routes to {_name(provider)}, but {key_env} is not set."
                )
                raise _Missing(message, f"{key_env} is not set")
        elif named is None and not self._enabled(provider):
            raise _Missing(_missing_builtin(asked, provider), _BUILTIN_NEED[provider])
        else:
            key = "" if named else self._builtin_key(provider)
        if named is not None:
            base = named.base_url
            api = spec.api or named.api
            connector = OPENAI_RESPONSES if api == "responses" else OPENAI_COMPATIBLE
        else:
            base = self._builtin_base_url(provider)
            connector = OPENAI_RESPONSES if spec.api == "responses" else ""
        timeouts = self.settings.upstream_timeouts.overridden(named.timeouts if named else None)
        return Deployment(
            provider=provider,
            model=spec.model,
            base_url=spec.base_url or base,
            api_key=key,
            connector=connector,
            weight=spec.weight,
            priority=spec.priority,
            timeouts=timeouts.overridden(spec.timeouts),
            context_window=spec.context_window,
            max_output_tokens=spec.max_output_tokens,
        )

    def _builtin_key(self, provider: str) -> str:
        s = self.settings
        return {
            "openai": s.openai_api_key,
            "anthropic": s.anthropic_api_key,
            "gemini": s.gemini_api_key,
            "vertex": s.vertex_api_key,
        }[provider]

    def _builtin_base_url(self, provider: str) -> str:
        s = self.settings
        if provider == "openai":
            return s.openai_base_url or OPENAI_DEFAULT_BASE_URL
        if provider == "anthropic":
            return s.anthropic_base_url or ANTHROPIC_DEFAULT_BASE_URL
        if provider == "gemini":
            return s.gemini_base_url or GEMINI_DEFAULT_BASE_URL
        # Express mode (a key) always uses the global endpoint.
        location = "global" if s.vertex_api_key else s.vertex_location
        return s.vertex_base_url or vertex_default_base_url(location)

    def _family(self, model: str, asked: str) -> str:
        if model == "local":  # an alias may name the local model bare, as a client does
            return "local"
        if model.startswith(_OPENAI_PREFIXES):
            return "openai"
        if model.startswith("claude-"):
            return "anthropic"
        if model.startswith(_GOOGLE_FAMILY):
            if not self.settings.gemini_api_key and self._enabled("vertex"):
                return "vertex"
            return "gemini"
        raise _not_found(
            f"The model '{asked}' does not exist or is not routed. Use 'local', an alias of the "
            "routing config, or a model of a configured provider (gpt-*, o1*, o3*, o4*, "
            "claude-*, gemini-*, or <provider>/<model> for openai, anthropic, gemini, vertex"
            + "".join(f", {name}" for name in self.config.providers)
            + ")."
        )

    def _enabled(self, provider: str) -> bool:
        s = self.settings
        if provider == "openai":
            return bool(s.openai_api_key or s.openai_base_url)
        if provider == "anthropic":
            return bool(s.anthropic_api_key)
        if provider == "gemini":
            return bool(s.gemini_api_key)
        if provider == "vertex":
            return bool(s.vertex_api_key or s.vertex_project)
        named = self.config.providers.get(provider)
        if named is not None:
            return not named.api_key_env or bool(self.env.get(named.api_key_env))
        return provider == "local"


_BUILTIN_NEED = {
    "openai": "OPENAI_API_KEY is not set",
    "anthropic": "ANTHROPIC_API_KEY is not set",
    "gemini": "GEMINI_API_KEY is not set",
    "vertex": "neither VERTEX_API_KEY nor VERTEX_PROJECT is set",
}
_BUILTIN_HINT = {
    "openai": "set OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server",
    "anthropic": "set ANTHROPIC_API_KEY",
    "gemini": "set GEMINI_API_KEY, or VERTEX_API_KEY or VERTEX_PROJECT for Vertex AI",
    "vertex": (
        "set VERTEX_API_KEY for express mode, or VERTEX_PROJECT (and VERTEX_LOCATION) with "
        "GOOGLE_APPLICATION_CREDENTIALS or VERTEX_ACCESS_TOKEN"
    ),
}


def _name(provider: str) -> str:
    return _DISPLAY.get(provider, provider)


def _missing_builtin(asked: str, provider: str) -> str:
    return (
        f"The model '{asked}' routes to {_name(provider)}, but {_BUILTIN_NEED[provider]} "
        f"({_BUILTIN_HINT[provider]})."
    )


def _not_found(message: str) -> RhoneError:
    return RhoneError.of(
        Code.ERROR_CODE_NOT_FOUND, message, detail="model_not_found", param="model"
    )


def weighted_order(deployments: list[Deployment], rng: random.Random) -> list[Deployment]:
    """Lower priority first; within one priority a weighted random order, so that a deployment
    of weight 3 comes first three times as often as one of weight 1 (Efraimidis-Spirakis
    keys: u ** (1 / w), highest first)."""
    ordered: list[Deployment] = []
    tiers = groupby(sorted(deployments, key=lambda d: d.priority), key=lambda d: d.priority)
    for _, tier in tiers:
        group = list(tier)
        if len(group) > 1:
            group.sort(key=lambda d: math.log(1.0 - rng.random()) / d.weight, reverse=True)
        ordered.extend(group)
    return ordered
