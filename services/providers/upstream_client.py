"""The HTTP client of one upstream base URL, shared by every tenant's calls to it.

- It keeps no cookies. httpx's client keeps each response's Set-Cookie and sends it on later
  requests; here a later request may be another tenant's, so an upstream's cookie (a load
  balancer's affinity, a bot-management token) set on one key's call would ride on another's.
- A request goes straight to the transport when no proxy is mounted (the environment names
  none, services/providers/connectors/http.py): what httpx's client adds around a transport
  (auth and redirect flows, the proxy lookup, cookie extraction, the elapsed timer) was about
  a tenth of the providers' CPU on a whole call (docs/performance.md). Behind a proxy, httpx's
  client sends it, with its mounts. Either way the request has httpx's default headers, the
  deployment's timeouts, and the response is the transport's httpx.Response, not yet read."""

from __future__ import annotations

from http.cookiejar import CookieJar
from typing import Any

import httpx


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing and adds nothing."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def add_cookie_header(self, request: Any) -> None:
        return None


class UpstreamClient:
    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        mounts: dict[str, httpx.AsyncBaseTransport | None],
        timeout: httpx.Timeout,
    ) -> None:
        self.client = httpx.AsyncClient(
            transport=transport, mounts=mounts, timeout=timeout, cookies=_NoCookies()
        )
        self._direct = None if mounts else transport
        self._defaults = self.client.headers

    async def open(
        self, url: str, *, content: bytes, headers: dict[str, str], bounds: httpx.Timeout
    ) -> httpx.Response:
        """POSTs `content`; the response with its body still to read (close it)."""
        if self._direct is None:
            request = self.client.build_request(
                "POST", url, content=content, headers=headers, timeout=bounds
            )
            return await self.client.send(request, stream=True)
        merged = httpx.Headers(self._defaults)
        merged.update(headers)
        request = httpx.Request(
            "POST", url, content=content, headers=merged, extensions={"timeout": bounds.as_dict()}
        )
        try:
            response = await self._direct.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's client names it on errors that lack one
            raise
        response.request = request
        return response

    async def aclose(self) -> None:
        await self.client.aclose()
