"""Where the services find each other. Each service has its own settings class (pydantic-settings,
from env); these are the addresses they share."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TRANSLATOR_ADDR = "127.0.0.1:50061"
DEFAULT_SESSIONS_ADDR = "127.0.0.1:50062"
DEFAULT_PROVIDERS_ADDR = "127.0.0.1:50063"


class PeerSettings(BaseSettings):
    """Targets of the peer services (`host:port`, or `dns:///name:port` in Kubernetes)."""

    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    translator_addr: str = DEFAULT_TRANSLATOR_ADDR
    sessions_addr: str = DEFAULT_SESSIONS_ADDR
    providers_addr: str = DEFAULT_PROVIDERS_ADDR
