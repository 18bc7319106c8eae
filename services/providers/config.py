"""Settings of the providers service. Keys come from the environment and are never logged
(every key field is excluded from repr).

A provider is enabled by its key alone: OpenAI by ``OPENAI_API_KEY`` (or ``OPENAI_BASE_URL``
for a keyless OpenAI-compatible server), Anthropic by ``ANTHROPIC_API_KEY``, Gemini by
``GEMINI_API_KEY``, Vertex by ``VERTEX_API_KEY`` (express mode) or ``VERTEX_PROJECT``
(project mode, with a service account or a static ``VERTEX_ACCESS_TOKEN``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rhone.runtime.settings import PeerSettings
from services.providers.timeouts import DEFAULT_TIMEOUTS, UpstreamTimeouts


class ProvidersSettings(PeerSettings):
    # Aliased fields ignore the prefix; the inherited peer addresses need it (RHONE_*_ADDR).
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore", populate_by_name=True)

    providers_listen: str = Field(default="", alias="RHONE_PROVIDERS_LISTEN")
    providers_addr: str = Field(default="127.0.0.1:50063", alias="RHONE_PROVIDERS_ADDR")

    openai_api_key: str = Field(default="", alias="OPENAI_API_KEY", repr=False)
    openai_base_url: str = Field(default="", alias="OPENAI_BASE_URL")
    anthropic_api_key: str = Field(default="", alias="ANTHROPIC_API_KEY", repr=False)
    anthropic_base_url: str = Field(default="", alias="ANTHROPIC_BASE_URL")
    gemini_api_key: str = Field(default="", alias="GEMINI_API_KEY", repr=False)
    gemini_base_url: str = Field(default="", alias="GEMINI_BASE_URL")
    # Vertex: an express-mode key, or a project (and location) with credentials.
    vertex_api_key: str = Field(default="", alias="VERTEX_API_KEY", repr=False)
    vertex_project: str = Field(default="", alias="VERTEX_PROJECT")
    vertex_location: str = Field(default="global", alias="VERTEX_LOCATION")
    vertex_base_url: str = Field(default="", alias="VERTEX_BASE_URL")
    # A ready OAuth access token for project mode (short-lived; for tests and token brokers).
    # Without it, service-account credentials come from GOOGLE_APPLICATION_CREDENTIALS (ADC).
    vertex_access_token: str = Field(default="", alias="VERTEX_ACCESS_TOKEN", repr=False)

    # A YAML file of model aliases, deployments and named OpenAI-compatible servers.
    routing_config: str = Field(default="", alias="RHONE_ROUTING_CONFIG")

    # Attempts per deployment on retryable failures (429, 5xx, 529, connect errors).
    max_attempts: int = Field(default=3, alias="RHONE_PROVIDER_MAX_ATTEMPTS")
    # Upper bound of one backoff sleep, and of a retry-after the service will honour.
    max_backoff_s: float = Field(default=8.0, alias="RHONE_PROVIDER_MAX_BACKOFF_S")
    # A call's whole deadline when the caller sets none.
    call_timeout_s: float = Field(default=600.0, alias="RHONE_PROVIDER_TIMEOUT_S")
    # Default bounds of a wait on an upstream (services/providers/timeouts.py); a deployment of
    # the routing config may override each.
    upstream_connect_timeout_s: float = Field(
        default=DEFAULT_TIMEOUTS.connect_s, gt=0, alias="RHONE_UPSTREAM_CONNECT_TIMEOUT_S"
    )
    upstream_first_byte_timeout_s: float = Field(
        default=DEFAULT_TIMEOUTS.first_byte_s, gt=0, alias="RHONE_UPSTREAM_FIRST_BYTE_TIMEOUT_S"
    )
    upstream_idle_timeout_s: float = Field(
        default=DEFAULT_TIMEOUTS.idle_s, gt=0, alias="RHONE_UPSTREAM_IDLE_TIMEOUT_S"
    )
    upstream_whole_timeout_s: float = Field(
        default=DEFAULT_TIMEOUTS.whole_s, gt=0, alias="RHONE_UPSTREAM_WHOLE_TIMEOUT_S"
    )
    # Delay between tokens of the local model (0: as fast as possible).
    local_token_delay_ms: int = Field(default=0, alias="RHONE_LOCAL_TOKEN_DELAY_MS")
    # The local model's context window in its tokens (words): small enough for tests to
    # exceed; a longer prompt is refused with context_length_exceeded, as a provider does.
    local_context_window: int = Field(default=32_768, alias="RHONE_LOCAL_CONTEXT_WINDOW", gt=0)

    @property
    def upstream_timeouts(self) -> UpstreamTimeouts:
        return UpstreamTimeouts(
            connect_s=self.upstream_connect_timeout_s,
            first_byte_s=self.upstream_first_byte_timeout_s,
            idle_s=self.upstream_idle_timeout_s,
            whole_s=self.upstream_whole_timeout_s,
        )

    @property
    def listen(self) -> str:
        return self.providers_listen or self.providers_addr
