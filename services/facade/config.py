"""Settings of the facade (env, prefix RHONE_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from rhone.runtime.settings import PeerSettings


class FacadeSettings(PeerSettings):
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    # Where the public gRPC API listens (docs/grpc.md), e.g. 0.0.0.0:50060; empty: not served.
    grpc_listen: str = ""
    # Bodies larger than this are refused with 413 before they reach the translator.
    max_body_bytes: int = 32 * 1024 * 1024
    # How long a resolved API key is trusted before it is checked again.
    key_cache_s: float = 30.0
    # WebSocket limits (docs/rhone-ws-v1.md).
    ws_max_calls: int = 16
    ws_max_queued_bytes: int = 4 * 1024 * 1024
    ws_idle_timeout_s: float = 300.0
    ws_max_frame_bytes: int = 4 * 1024 * 1024
    # Responses WebSocket mode: `store: false` responses kept per socket, and their byte budget.
    ws_kept_responses: int = 16
    ws_kept_bytes: int = 32 * 1024 * 1024
