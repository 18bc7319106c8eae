"""Settings of the sessions service (env, prefix RHONE_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rhone.runtime.settings import PeerSettings
from services.sessions.store import DEFAULT_LEASE_MS


class SessionsSettings(PeerSettings):
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    # Where this process listens; defaults to the address peers dial.
    sessions_listen: str = ""
    # sqlite:///path/to/file.db (embedded default) or postgresql://user@host:port/db
    database_url: str = "sqlite:///.rhone/rhone.db"
    # The key of the default tenant.
    api_key: str = Field(default="", repr=False)
    # More tenants: "tenant_a:key1,tenant_b:key2".
    tenant_keys: str = Field(default="", repr=False)
    # How long a call's lease on a session holds unless renewed (the translator renews it
    # while the call streams): how long a session stays busy after its caller died.
    session_lease_ms: int = Field(default=DEFAULT_LEASE_MS, ge=1000)

    @property
    def listen(self) -> str:
        return self.sessions_listen or self.sessions_addr
