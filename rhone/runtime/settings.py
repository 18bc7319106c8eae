"""Where the services find each other. Each service has its own settings class (pydantic-settings,
from env); these are the addresses they share."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from rhone.runtime.cpu_policy import CpuPolicy

DEFAULT_TRANSLATOR_ADDR = "127.0.0.1:50061"
DEFAULT_SESSIONS_ADDR = "127.0.0.1:50062"
DEFAULT_PROVIDERS_ADDR = "127.0.0.1:50063"


class PeerSettings(BaseSettings):
    """Targets of the peer services (`host:port`, or `dns:///name:port` in Kubernetes)."""

    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    translator_addr: str = DEFAULT_TRANSLATOR_ADDR
    sessions_addr: str = DEFAULT_SESSIONS_ADDR
    providers_addr: str = DEFAULT_PROVIDERS_ADDR


class ServingSettings(BaseSettings):
    """How every service serves and stops (env, prefix RHONE_). The same for all four, so
    that a Deployment's `terminationGracePeriodSeconds` can match one number."""

    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    # SIGTERM: readiness goes false at once, calls in flight get this long to finish.
    shutdown_grace_s: float = 30.0
    # A gRPC connection older than this is closed (GOAWAY) once its streams end, so that
    # clients resolve their target again and spread onto pods that started since.
    grpc_max_connection_age_s: float = 60.0
    # How long streams on a connection past its age may still run before it is cut.
    grpc_max_connection_age_grace_s: float = 600.0
    # Calls to Rhone's own services travel on lanes, long-lived streams that carry one call
    # at a time (docs/grpc.md, "Lanes"); off, each is a gRPC call of its own.
    grpc_lanes: bool = True
    # How the process's threads are scheduled (rhone/runtime/cpu_policy.py): `batch` when the
    # services share cores, as `make run` runs them.
    cpu_policy: CpuPolicy = "normal"


class CallLimitSettings(BaseSettings):
    """Read with the service's own prefix: RHONE_<SERVICE>_MAX_CONCURRENT_CALLS (the prefix
    below only names it; max_concurrent_calls() gives the real one)."""

    model_config = SettingsConfigDict(extra="ignore", env_prefix="RHONE_<SERVICE>_")

    # Calls this process runs at once; one more is refused at once (RESOURCE_EXHAUSTED, a
    # 503 at the edge) instead of queueing in memory.
    max_concurrent_calls: int = 1000


def max_concurrent_calls(service: str) -> int:
    settings = CallLimitSettings(_env_prefix=f"RHONE_{service.upper()}_")  # type: ignore[call-arg]
    return settings.max_concurrent_calls
