"""Settings of the sessions service (env, prefix RHONE_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rhone.runtime.settings import PeerSettings


class SessionsSettings(PeerSettings):
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    # Where this process listens; defaults to the address peers dial.
    sessions_listen: str = ""
    # sqlite:///path/to/file.db (embedded default) or postgresql://user@host:port/db
    database_url: str = "sqlite:///.rhone/rhone.db"
    # Apply pending schema migrations at start. false: only check the schema is current (its
    # database role then needs no DDL rights; `python -m services.sessions migrate` migrates).
    migrate_on_start: bool = True
    # The key of the default tenant.
    api_key: str = Field(default="", repr=False)
    # More tenants: "tenant_a:key1,tenant_b:key2".
    tenant_keys: str = Field(default="", repr=False)

    @property
    def listen(self) -> str:
        return self.sessions_listen or self.sessions_addr
