"""API keys to tenants. Keys arrive as `Authorization: Bearer`, `x-api-key` (Anthropic),
`x-goog-api-key` or `?key=` (Google); the sessions service resolves them (TenancyService) into
a Principal: the tenant, the key's id, and what the edge enforces for it.

Resolutions are cached (RHONE_KEY_CACHE_S) so a call costs no extra hop in the common case,
but a cache must not outlive a revocation: a watcher polls the keys' version (a counter the
sessions service moves with every key or tenant change) every RHONE_KEY_VERSION_POLL_S and
forgets every cached resolution when it moves. A revoked key thus fails on every replica
within one poll interval (plus one round trip), not after a cache lifetime. A cached
resolution also carries its expiry (the key's, or its rotated secret's grace end), checked on
every call."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import grpc
from starlette.requests import HTTPConnection

from rhone.errors import Code, RhoneError
from rhone.rpc_errors import detail_of
from rhone.tenancy import model_allowed
from rhone.v1 import tenancy_pb2 as tpb
from rhone.v1 import tenancy_pb2_grpc

log = logging.getLogger("rhone.facade.auth")

log = logging.getLogger("rhone.facade.auth")

# Keys are printable ASCII; anything else cannot be one and is refused before the database
# sees it (a NUL is an error there, not a miss).
MAX_KEY_LENGTH = 512
_KEY = re.compile(r"[\x21-\x7e]+")


def api_key_of(request: HTTPConnection) -> str:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for header in ("x-api-key", "x-goog-api-key"):
        if value := request.headers.get(header):
            return value.strip()
    return request.query_params.get("key", "").strip()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a call is for, as resolved from its key."""

    tenant_id: str
    key_id: str
    resolved: tpb.ResolvedKey

    @property
    def expires_at_ms(self) -> int:
        return int(self.resolved.expires_at_ms)

    @property
    def restricts_models(self) -> bool:
        """Whether the key or its tenant lists allowed models (else every model is)."""
        return bool(self.resolved.key_models or self.resolved.tenant_models)

    def may_use(self, model: str) -> bool:
        """Whether both the key's and its tenant's `models` allow the model (names or
        globs; an empty list allows every model): what a call is admitted by and what the
        model listings show."""
        resolved = self.resolved
        return model_allowed(model, list(resolved.key_models)) and model_allowed(
            model, list(resolved.tenant_models)
        )


def _invalid_key() -> RhoneError:
    return RhoneError.of(
        Code.ERROR_CODE_AUTHENTICATION, "Incorrect API key provided.", detail="invalid_api_key"
    )


class Authenticator:
    def __init__(
        self,
        tenancy: tenancy_pb2_grpc.TenancyServiceStub,
        ttl_s: float,
        version_poll_s: float = 0.25,
    ) -> None:
        self._tenancy = tenancy
        self._ttl = ttl_s
        self._poll_s = version_poll_s
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._version = -1
        self._watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts watching the keys' version (from the app's lifespan)."""
        if self._watcher is None and self._poll_s > 0:
            self._watcher = asyncio.create_task(self._watch_versions())

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None

    async def _watch_versions(self) -> None:
        failing_since = 0.0
        while True:
            try:
                answer = await self._tenancy.GetKeysVersion(
                    tpb.GetKeysVersionRequest(), timeout=max(self._poll_s * 4, 1.0)
                )
            except grpc.aio.AioRpcError as exc:
                # Nothing can be revoked through a sessions service this replica cannot reach
                # either; cached keys keep working for their cache lifetime (calls go on
                # during a blip), and the first version read after it settles the question.
                if not failing_since:
                    failing_since = time.monotonic()
                    log.warning("keys version unavailable (%s); watching on", exc.code())
                self._version = -1
            else:
                failing_since = 0.0
                if answer.version != self._version:
                    self._cache.clear()
                    self._version = answer.version
            await asyncio.sleep(self._poll_s)

    def forget(self) -> None:
        """Drops every cached resolution (after this replica changed a key itself)."""
        self._cache.clear()

    async def tenant_of(self, request: HTTPConnection) -> str:
        return (await self.principal_of(request)).tenant_id

    async def principal_of(self, request: HTTPConnection) -> Principal:
        return await self.principal_of_key(api_key_of(request))

    async def principal_of_key(self, key: str) -> Principal:
        if not key:
            raise RhoneError.of(
                Code.ERROR_CODE_AUTHENTICATION,
                "No API key provided. Send it as 'Authorization: Bearer <key>'.",
                detail="missing_api_key",
            )
        if len(key) > MAX_KEY_LENGTH or _KEY.fullmatch(key) is None:
            raise _invalid_key()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            principal = cached[0]
            if 0 < principal.expires_at_ms <= time.time() * 1000:
                self._cache.pop(key, None)
                raise _invalid_key()
            return principal
        try:
            resolved = await self._tenancy.ResolveKey(
                tpb.ResolveKeyRequest(api_key=key), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            if _is_wrong_key(exc):
                raise _invalid_key() from None
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                # The sessions service refused this facade, not the key: a deployment whose
                # services do not share a service identity (docs/grpc.md).
                log.error("the sessions service refused the facade's service identity")
            raise RhoneError.of(
                Code.ERROR_CODE_UNAVAILABLE, "The sessions service is unavailable."
            ) from None
        principal = Principal(resolved.tenant_id, resolved.key_id, resolved)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (principal, now + self._ttl)
        return principal


def _is_wrong_key(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() == grpc.StatusCode.UNAUTHENTICATED and detail_of(exc) == "invalid_api_key"
