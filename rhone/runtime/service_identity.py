"""Service identity: only Rhone's own services may call its internal gRPC services.

Two ways to prove it, from settings every service reads (docs/grpc.md, "Service identity"):

- mTLS: RHONE_TLS_CERT, RHONE_TLS_KEY and RHONE_TLS_CA name PEM files (in Kubernetes, mounted
  from a Secret; `make certs` writes a local CA and a certificate per service). Servers then
  accept only clients whose certificate the CA signed, and clients check the server's.
- A shared token (RHONE_SERVICE_TOKEN), sent in the `rhone-service-token` metadata of every
  internal call, where TLS is off. `make run` generates one per run and hands it to all four
  processes, so zero setup still works.

With neither, a service refuses to start: an internal port open to anyone on the network would
let any process act as any tenant."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_TOKEN_KEY = "rhone-service-token"
# Health answers no tenant's data, and Kubernetes' gRPC probes cannot send metadata.
HEALTH_SERVICE = "grpc.health.v1.Health"


class IdentitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RHONE_", extra="ignore")

    # The shared token internal calls carry when TLS is off (or as well as TLS).
    service_token: str = Field(default="", repr=False)
    # PEM files: this service's certificate chain, its private key, and the CA that signs
    # every Rhone service's certificate. All three or none.
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    # Serve gRPC reflection (grpcurl and similar tools list the services); off by default.
    grpc_reflection: bool = False


class IdentityError(RuntimeError):
    """Settings that cannot give a service an identity; the service does not start."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert: bytes
    key: bytes
    ca: bytes


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    token: str
    tls: TlsFiles | None
    reflection: bool

    @classmethod
    def from_settings(cls, settings: IdentitySettings | None = None) -> ServiceIdentity:
        settings = settings or IdentitySettings()
        paths = (settings.tls_cert, settings.tls_key, settings.tls_ca)
        tls = None
        if any(paths):
            if not all(paths):
                raise IdentityError(
                    "RHONE_TLS_CERT, RHONE_TLS_KEY and RHONE_TLS_CA must be set together"
                )
            tls = TlsFiles(*(_read(path) for path in paths))
        if tls is None and not settings.service_token:
            raise IdentityError(
                "internal gRPC needs a service identity: set RHONE_SERVICE_TOKEN, or "
                "RHONE_TLS_CERT/RHONE_TLS_KEY/RHONE_TLS_CA (`make certs`); `make run` sets one"
            )
        return cls(settings.service_token, tls, settings.grpc_reflection)

    def server_credentials(self, *, require_client_cert: bool = True) -> grpc.ServerCredentials:
        """mTLS for internal ports; a public port presents the certificate but asks for none."""
        assert self.tls is not None
        return grpc.ssl_server_credentials(
            [(self.tls.key, self.tls.cert)],
            root_certificates=self.tls.ca if require_client_cert else None,
            require_client_auth=require_client_cert,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        assert self.tls is not None
        return grpc.ssl_channel_credentials(
            root_certificates=self.tls.ca,
            private_key=self.tls.key,
            certificate_chain=self.tls.cert,
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """What every call from this service to another carries (rhone/runtime/channels.py)."""
        return ((SERVICE_TOKEN_KEY, self.token),) if self.token else ()


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise IdentityError(f"cannot read TLS file {path}: {exc.strerror}") from None


def token_matches(expected: str, metadata: Sequence[tuple[str, Any]] | None) -> bool:
    for key, value in metadata or ():
        if key == SERVICE_TOKEN_KEY:
            given = value.decode() if isinstance(value, bytes) else str(value)
            return hmac.compare_digest(given.encode(), expected.encode())
    return False


class RequireServiceToken:
    """A guard (rhone/runtime/handler_guards.py) that refuses every call without the service
    token (UNAUTHENTICATED), except health checks. Under mTLS the handshake has already
    refused clients without a certificate; the token, when set, is checked as well."""

    def __init__(self, token: str, open_services: frozenset[str] = frozenset({HEALTH_SERVICE})):
        self._token = token
        self._open = open_services

    def applies(self, method: str) -> bool:
        return (method.split("/")[1] if "/" in method else "") not in self._open

    async def enter(self, context: grpc.aio.ServicerContext, method: str) -> None:
        if not token_matches(self._token, context.invocation_metadata()):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, MISSING_IDENTITY)

    def leave(
        self, entered: object, context: grpc.aio.ServicerContext, exc: BaseException | None
    ) -> None:
        pass


MISSING_IDENTITY = "This is an internal Rhone service: calls need a service identity."
