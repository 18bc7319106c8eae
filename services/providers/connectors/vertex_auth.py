"""OAuth access tokens for Vertex AI project mode.

A static ``VERTEX_ACCESS_TOKEN`` is used as given (tests, or a token broker that renews the
environment). Otherwise the service-account credentials of Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, or the metadata server) are loaded and refreshed
with google-auth. google-auth is synchronous and a refresh is a network round trip, so loading
and refreshing run in a worker thread, one at a time, never on the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from rhone.errors import Code, RhoneError, make_failure

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class VertexTokens:
    """``Authorization`` (and ``x-goog-user-project``) headers for project mode."""

    def __init__(self, static_token: str = "") -> None:
        self._static = static_token
        self._credentials: Any = None
        self._transport: Any = None
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        if self._static:
            return {"authorization": f"Bearer {self._static}"}
        async with self._lock:  # one load/refresh at a time; the others reuse its token
            if self._credentials is None:
                self._credentials, self._transport = await asyncio.to_thread(_load)
            credentials = self._credentials
            if not credentials.valid:  # expired, or about to (google-auth keeps a skew)
                await asyncio.to_thread(_refresh, credentials, self._transport)
        headers = {"authorization": f"Bearer {credentials.token}"}
        quota_project = getattr(credentials, "quota_project_id", None)
        if quota_project:
            # As google-genai does: bill quota to the project the credentials name.
            headers["x-goog-user-project"] = quota_project
        return headers


def _load() -> tuple[Any, Any]:
    import google.auth
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise RhoneError(
            make_failure(
                Code.ERROR_CODE_AUTHENTICATION,
                "Vertex AI project mode has no credentials: set GOOGLE_APPLICATION_CREDENTIALS "
                f"to a service-account key file, or VERTEX_ACCESS_TOKEN ({exc}).",
                http_status=401,
            )
        ) from None
    return credentials, google.auth.transport.requests.Request()


def _refresh(credentials: Any, transport: Any) -> None:
    import google.auth.exceptions

    try:
        credentials.refresh(transport)
    except google.auth.exceptions.RefreshError as exc:
        # RefreshError says whether a retry may help (a 5xx from the token endpoint).
        retryable = bool(getattr(exc, "retryable", False))
        code = Code.ERROR_CODE_UNAVAILABLE if retryable else Code.ERROR_CODE_AUTHENTICATION
        raise RhoneError(
            make_failure(code, f"Vertex AI token refresh failed: {exc}", http_status=401)
        ) from None
    except google.auth.exceptions.TransportError as exc:
        raise RhoneError(
            make_failure(
                Code.ERROR_CODE_UNAVAILABLE,
                f"Vertex AI token refresh could not reach Google: {type(exc).__name__}",
                http_status=502,
            )
        ) from None
