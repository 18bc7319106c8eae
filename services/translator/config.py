"""Settings of the translator service (env, prefix RHONE_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from rhone.runtime.settings import PeerSettings


class TranslatorSettings(PeerSettings):
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    translator_listen: str = ""
    # The model that writes compaction summaries (any routable name); empty: the call's model.
    compaction_model: str = ""
    # Seals compaction items; every translator replica needs the same one. Empty: a key of
    # this process only (items do not survive a restart).
    compaction_secret: str = ""
    # How many sessions' contexts the translator keeps in memory, so that a continuing call
    # fetches only the turns it has not seen (0: none).
    context_cache_sessions: int = 1000
    # The most memory those contexts may hold, in MiB, estimated (context_cache.py): one
    # session's can be megabytes. The least recently used go first until both bounds hold.
    context_cache_mb: int = 256

    @property
    def listen(self) -> str:
        return self.translator_listen or self.translator_addr
