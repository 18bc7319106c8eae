"""Settings of the translator service (env, prefix RHONE_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from rhone.runtime.settings import PeerSettings


class TranslatorSettings(PeerSettings):
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    translator_listen: str = ""

    @property
    def listen(self) -> str:
        return self.translator_listen or self.translator_addr
