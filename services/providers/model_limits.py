"""A routed model's context window and output limit, so that the translator can fit a session's
context to the model before calling it (docs/long-sessions.md).

Where a number comes from, first match wins:
1. the routing config's ``limits`` entry for the name asked (an alias or a model name);
2. for an alias: the smallest limits among its deployments (failover may land on any of
   them), each from 3-5;
3. the deployment's own ``context_window`` / ``max_output_tokens`` in the routing config;
4. the ``limits`` entry for ``provider/model`` or the bare upstream model name;
5. the defaults below for well-known model families (the providers' published model pages:
   https://platform.openai.com/docs/models, https://docs.anthropic.com/en/docs/about-claude/models,
   https://ai.google.dev/gemini-api/docs/models), else a conservative 128k/4k;
and for the ``local`` model, ``RHONE_LOCAL_CONTEXT_WINDOW`` (small, so tests can exceed it)."""

from __future__ import annotations

from dataclasses import dataclass

from services.providers.routing import Deployment, Router


@dataclass(frozen=True, slots=True)
class Limits:
    context_window: int
    max_output_tokens: int


FALLBACK = Limits(128_000, 4_096)

# (model-name prefix, limits); the longest matching prefix wins.
KNOWN: tuple[tuple[str, Limits], ...] = (
    ("gpt-5", Limits(400_000, 128_000)),
    ("gpt-4.1", Limits(1_047_576, 32_768)),
    ("gpt-4o", Limits(128_000, 16_384)),
    ("gpt-4-turbo", Limits(128_000, 4_096)),
    ("gpt-4", Limits(8_192, 8_192)),
    ("gpt-3.5-turbo", Limits(16_385, 4_096)),
    ("chatgpt-4o", Limits(128_000, 16_384)),
    ("o1-mini", Limits(128_000, 65_536)),
    ("o1", Limits(200_000, 100_000)),
    ("o3", Limits(200_000, 100_000)),
    ("o4-mini", Limits(200_000, 100_000)),
    ("claude-opus-4", Limits(200_000, 32_000)),
    ("claude-sonnet-4", Limits(200_000, 64_000)),
    ("claude-haiku-4", Limits(200_000, 64_000)),
    ("claude-3-7-sonnet", Limits(200_000, 64_000)),
    ("claude-3-5", Limits(200_000, 8_192)),
    ("claude-3", Limits(200_000, 4_096)),
    ("claude-", Limits(200_000, 8_192)),
    ("gemini-2.5", Limits(1_048_576, 65_536)),
    ("gemini-2.0", Limits(1_048_576, 8_192)),
    ("gemini-1.5-pro", Limits(2_097_152, 8_192)),
    ("gemini-1.5", Limits(1_048_576, 8_192)),
    ("gemini-", Limits(1_048_576, 8_192)),
)


def known_limits(model: str) -> Limits:
    """The published limits of a well-known model family, else the conservative fallback."""
    best: tuple[int, Limits] | None = None
    for prefix, limits in KNOWN:
        if model.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), limits)
    return best[1] if best else FALLBACK


class ModelLimits:
    """Resolves limits with the router's config; pure."""

    def __init__(self, router: Router, local_context_window: int) -> None:
        self.router = router
        self.local = Limits(local_context_window, max(1, min(4_096, local_context_window // 2)))

    def of(self, model: str, home_provider: str = "") -> tuple[Limits, str]:
        """(limits, provider of the first deployment); raises RhoneError (404) for a model
        nothing routes."""
        deployments = self.router.route(model, home_provider)
        configured = self.router.config.limits.get(model)
        each = [self._deployment(d) for d in deployments]
        window = min(limits.context_window for limits in each)
        output = min(limits.max_output_tokens for limits in each)
        if configured is not None:
            window = configured.context_window or window
            output = configured.max_output_tokens or output
        return Limits(window, min(output, window)), deployments[0].provider

    def _deployment(self, deployment: Deployment) -> Limits:
        base = self.local if deployment.provider == "local" else known_limits(deployment.model)
        limits = self.router.config.limits
        named = limits.get(f"{deployment.provider}/{deployment.model}") or limits.get(
            deployment.model
        )
        window = deployment.context_window or (named.context_window if named else 0)
        output = deployment.max_output_tokens or (named.max_output_tokens if named else 0)
        return Limits(window or base.context_window, output or base.max_output_tokens)
