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
    # A call's whole deadline, passed on to every hop behind the facade.
    call_timeout_s: float = 600.0
    # How long a resolved API key is trusted before it is checked again.
    key_cache_s: float = 30.0
    # How often the keys' version is polled; a revoked key fails on every replica within it.
    key_version_poll_s: float = 0.25
    # Limits and budgets (docs/tenants.md): the Redis every replica shares, a key prefix of
    # their own, how long a Redis call may take, and what to do when Redis does not answer
    # (true: let calls through, logged and counted; false: answer 503).
    redis_url: str = "redis://127.0.0.1:6379/0"
    limits_prefix: str = "rhone"
    limits_timeout_s: float = 0.25
    limits_fail_open: bool = True
    # A concurrency slot a replica never gave back (it died) frees itself after this.
    limits_lease_s: float = 600.0
    # A roomy limit's allowance is drawn from Redis ahead, this much of its rate at a time, so
    # that its calls skip the Redis round trip (docs/tenants.md, "Blocks"); 0: every call
    # asks Redis.
    limits_block_ms: int = 100
    # Usage records are sent to the sessions service in batches this often.
    usage_flush_s: float = 1.0
    # The routing config, read here only for its `prices:` table (rhone/pricing.py).
    routing_config: str = ""
    # WebSocket limits (docs/rhone-ws-v1.md).
    ws_max_calls: int = 16
    ws_max_queued_bytes: int = 4 * 1024 * 1024
    ws_idle_timeout_s: float = 300.0
    ws_max_frame_bytes: int = 4 * 1024 * 1024
    # permessage-deflate on WebSockets: off, since a stream's frames are small and many, and
    # each socket's compressor costs CPU per frame and memory per socket (docs/performance.md).
    ws_compression: bool = False
    # Responses WebSocket mode: `store: false` responses kept per socket, and their byte budget.
    ws_kept_responses: int = 16
    ws_kept_bytes: int = 32 * 1024 * 1024
    # Runs (docs/rhone-ws-v1.md): how long a paused run waits for tool outputs, the most
    # model calls a run may make, and how often a follower looks for another replica's events.
    run_tool_timeout_s: float = 600.0
    run_max_steps: int = 100
    run_poll_s: float = 0.25
    run_heartbeat_s: float = 5.0
