"""Model routing: a model name to the ordered deployments that can serve it. Pure.

`local` and `local/*` go to the offline local model. `provider/model` names the provider
explicitly; bare names route by family (`gpt-*`, `o1*`, `o3*`, `o4*`, `chatgpt-*` to OpenAI).
A model whose provider has no key configured is a 404 that says which key is missing."""

from __future__ import annotations

from dataclasses import dataclass

from rhone.errors import Code, RhoneError
from services.providers.config import ProvidersSettings


@dataclass(frozen=True, slots=True)
class Deployment:
    provider: str
    # The model name the upstream knows.
    model: str
    base_url: str = ""
    api_key: str = ""

    def __repr__(self) -> str:  # never print the key
        return f"Deployment({self.provider}/{self.model} @ {self.base_url or 'default'})"


OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")


def _openai(model: str, settings: ProvidersSettings, asked: str) -> list[Deployment]:
    if not settings.openai_api_key and not settings.openai_base_url:
        raise RhoneError.of(
            Code.ERROR_CODE_NOT_FOUND,
            f"The model '{asked}' routes to OpenAI, but OPENAI_API_KEY is not set "
            "(set OPENAI_API_KEY, or OPENAI_BASE_URL for an OpenAI-compatible server).",
            detail="model_not_found",
            param="model",
        )
    return [
        Deployment(
            provider="openai",
            model=model,
            base_url=settings.openai_base_url or OPENAI_DEFAULT_BASE_URL,
            api_key=settings.openai_api_key,
        )
    ]


def route(model: str, settings: ProvidersSettings) -> list[Deployment]:
    """The deployments for a model name, in the order to try them."""
    if model == "local" or model.startswith("local/"):
        return [Deployment(provider="local", model=model)]
    provider, sep, rest = model.partition("/")
    if sep and provider == "openai" and rest:
        return _openai(rest, settings, model)
    if model.startswith(_OPENAI_PREFIXES):
        return _openai(model, settings, model)
    raise RhoneError.of(
        Code.ERROR_CODE_NOT_FOUND,
        f"The model '{model}' does not exist or is not routed. Use 'local', or a model of a "
        "configured provider (gpt-*, o1*, o3*, o4*, openai/<model>).",
        detail="model_not_found",
        param="model",
    )


def known_models(settings: ProvidersSettings) -> list[tuple[str, str]]:
    """(model id, provider) pairs to list on /v1/models."""
    models = [("local", "local")]
    if settings.openai_api_key or settings.openai_base_url:
        models.append(("openai/*", "openai"))
    return models
