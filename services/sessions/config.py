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
    # The server secret of the keyed hash keys are stored under (docs/tenants.md).
    key_hmac_secret: str = Field(default="", repr=False)
    # The operators' key for AdminService (and the facade's /v1/admin); empty: admin API off.
    admin_key: str = Field(default="", repr=False)
    # How long a call's lease on a session holds unless renewed: how long a session stays busy
    # after its caller died. The one lease default: a BeginTurn that asks for no lease time
    # gets this, and the translator renews every third of what was granted while its call
    # streams.
    session_lease_ms: int = Field(default=10_000, ge=1000)

    @property
    def listen(self) -> str:
        return self.sessions_listen or self.sessions_addr
