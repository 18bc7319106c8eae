"""API keys to tenants. Keys arrive as `Authorization: Bearer`, `x-api-key` (Anthropic),
`x-goog-api-key` or `?key=` (Google); the sessions service resolves them. Resolutions are
cached briefly so that a call costs no extra hop in the common case."""

from __future__ import annotations

import logging
import re
import time

import grpc
from starlette.requests import HTTPConnection

from rhone.errors import Code, RhoneError
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc

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


class Authenticator:
    def __init__(self, sessions: sessions_pb2_grpc.SessionServiceStub, ttl_s: float) -> None:
        self._sessions = sessions
        self._ttl = ttl_s
        self._cache: dict[str, tuple[str, float]] = {}

    async def tenant_of(self, request: HTTPConnection) -> str:
        return await self.tenant_of_key(api_key_of(request))

    async def tenant_of_key(self, key: str) -> str:
        if not key:
            raise RhoneError.of(
                Code.ERROR_CODE_AUTHENTICATION,
                "No API key provided. Send it as 'Authorization: Bearer <key>'.",
                detail="missing_api_key",
            )
        if len(key) > MAX_KEY_LENGTH or _KEY.fullmatch(key) is None:
            raise _incorrect_key()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            resolved = await self._sessions.ResolveApiKey(
                spb.ResolveApiKeyRequest(api_key=key), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            if _is_wrong_key(exc):
                raise _incorrect_key() from None
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                # The sessions service refused this facade, not the key: a deployment whose
                # services do not share a service identity (docs/grpc.md).
                log.error("the sessions service refused the facade's service identity")
            raise RhoneError.of(
                Code.ERROR_CODE_UNAVAILABLE, "The sessions service is unavailable."
            ) from None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (resolved.tenant_id, now + self._ttl)
        return resolved.tenant_id


def _is_wrong_key(exc: grpc.aio.AioRpcError) -> bool:
    detail = dict(exc.trailing_metadata() or ()).get("rhone-error-detail")
    return exc.code() == grpc.StatusCode.UNAUTHENTICATED and detail == "invalid_api_key"


def _incorrect_key() -> RhoneError:
    return RhoneError.of(
        Code.ERROR_CODE_AUTHENTICATION, "Incorrect API key provided.", detail="invalid_api_key"
    )
