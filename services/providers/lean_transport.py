"""An httpx transport for the providers' upstream calls: HTTP/1.1 on asyncio Protocols
(services/providers/http1.py, parsed by httptools) with a keep-alive pool, in place of httpx's
default stack (httpcore, anyio, h11: all pure Python, about a fifth of the providers' CPU on a
whole call, docs/performance.md). httpx's client API stays: the connectors, ObservedTransport,
error handling and tests see the same httpx.Response and the same httpx exceptions.

- A pool per transport, keyed by (scheme, host, port): at most ``max_connections`` open, of
  which ``max_keepalive_connections`` kept idle for ``keepalive_expiry`` seconds (httpx.Limits).
  A connection goes back to the pool only once its response was read to the end and neither
  side said ``Connection: close``; a response closed early takes its connection with it.
- https with httpx's own default trust (``httpx.create_ssl_context()``: certifi's bundle, or
  SSL_CERT_FILE / SSL_CERT_DIR), SNI the URL's host, ALPN http/1.1.
- The request's timeouts (``request.extensions["timeout"]``), mapped as httpcore maps them:
  ``connect`` -> ConnectTimeout (TCP and TLS), ``read`` -> ReadTimeout (the head, and each body
  chunk), ``write`` -> WriteTimeout, ``pool`` -> PoolTimeout; None: no bound. A refused or
  unreachable address or a failed handshake is ConnectError.
- Proxies: httpx mounts the environment's proxies (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY) only
  for a client built without ``transport=``, so this transport never sees a proxied request:
  ClientPool (connectors/http.py) mounts httpx's own transport for the URLs a proxy serves.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from typing import Any

import httpx

from services.providers.http1 import TIMED_OUT, Http1Connection, ResponseBody, expire

_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_PORTS = {"http": 80, "https": 443}


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 to any origin, pooled. ``ssl_context``: the trust for https (default httpx's)."""

    def __init__(
        self, *, limits: httpx.Limits = _DEFAULT_LIMITS, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._max_open = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[tuple[str, str, int], list[Http1Connection]] = {}
        self._idle_count = 0
        self._open = 0  # connections open or opening, idle ones included
        self._waiters: deque[asyncio.Future[object]] = deque()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        port = url.port or _PORTS.get(scheme)
        if port is None:
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'.", request=request
            )
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        connection = await self._acquire((scheme, url.host, port), request, timeouts)
        try:
            head, chunked, close_after = _request_head(request)
            try:
                body: Any = request.content
            except httpx.RequestNotRead:
                body = request.stream
            await connection.send(
                head,
                body,
                chunked=chunked,
                head_only=request.method == "HEAD",
                close_after=close_after,
                write_timeout=timeouts.get("write"),
            )
            read_timeout = timeouts.get("read")
            status, headers, reason, version = await connection.receive_head(request, read_timeout)
        except BaseException:
            self._drop(connection)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=ResponseBody(connection, request, read_timeout, self._release),
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
                self._open -= 1
        self._idle.clear()
        self._idle_count = 0

    # -- the pool ------------------------------------------------------------------------------

    async def _acquire(
        self,
        origin: tuple[str, str, int],
        request: httpx.Request,
        timeouts: dict[str, float | None],
    ) -> Http1Connection:
        loop = asyncio.get_running_loop()
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            connection = self._take_idle(origin, loop.time())
            if connection is not None:
                return connection
            if self._max_open is None or self._open < self._max_open:
                break
            if self._idle_count:  # room taken by another origin's idle connection: close it
                self._close_oldest_idle()
                continue
            await self._wait_for_room(loop, deadline, request)
        self._open += 1
        try:
            return await self._connect(loop, origin, timeouts.get("connect"))
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    def _take_idle(self, origin: tuple[str, str, int], now: float) -> Http1Connection | None:
        connections = self._idle.get(origin)
        while connections:
            connection = connections.pop()
            self._idle_count -= 1
            expired = self._expiry is not None and now - connection.idle_since > self._expiry
            if not connection.closed and not expired:
                return connection
            connection.close()
            self._open -= 1
        return None

    def _close_oldest_idle(self) -> None:
        oldest = min(
            (connections[0] for connections in self._idle.values() if connections),
            key=lambda connection: connection.idle_since,
        )
        self._idle[oldest.origin].remove(oldest)
        self._idle_count -= 1
        oldest.close()
        self._open -= 1

    async def _wait_for_room(
        self, loop: asyncio.AbstractEventLoop, deadline: float | None, request: httpx.Request
    ) -> None:
        waiter = loop.create_future()
        self._waiters.append(waiter)
        handle = None if deadline is None else loop.call_at(deadline, expire, waiter)
        try:
            await waiter
        except BaseException:  # cancelled: out of the queue, and a wake it got goes on
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake_one()
            raise
        finally:
            if handle is not None:
                handle.cancel()
        if waiter.result() is TIMED_OUT:
            self._waiters.remove(waiter)
            raise httpx.PoolTimeout("timed out waiting for a connection", request=request)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, connection: Http1Connection) -> None:
        """A response's end: its connection back to the pool, or closed."""
        room = self._max_idle is None or self._idle_count < self._max_idle
        if connection.reusable and room and not self._closed:
            connection.idle_since = connection.loop.time()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._idle_count += 1
        else:
            connection.close()
            self._open -= 1
        self._wake_one()

    def _drop(self, connection: Http1Connection) -> None:
        connection.close()
        self._open -= 1
        self._wake_one()

    # -- connecting ----------------------------------------------------------------------------

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: tuple[str, str, int],
        bound: float | None,
    ) -> Http1Connection:
        scheme, host, port = origin
        tls = self._tls() if scheme == "https" else None
        connection = Http1Connection(loop, origin)
        try:
            async with asyncio.timeout(bound):
                await loop.create_connection(
                    lambda: connection,
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError:
            connection.close()
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:  # refused, unreachable, unknown name, TLS (ssl.SSLError)
            connection.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        transport = connection.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            try:  # each request is one write: Nagle would only delay it
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        return connection

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context


def _request_head(request: httpx.Request) -> tuple[bytes, bool, bool]:
    """The request line and headers, as httpx set them (plus Host if missing); whether the
    body goes chunked, and whether the request asks to close the connection after it."""
    lines = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    has_host = chunked = close_after = False
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
            raise httpx.LocalProtocolError(
                "Illegal header: a CR or LF in a header", request=request
            )
        lower = name.lower()
        if lower == b"host":
            has_host = True
        elif lower == b"transfer-encoding":
            chunked = value.lower() == b"chunked"
        elif lower == b"connection":
            close_after = value.lower() == b"close"
        lines += (name, b": ", value, b"\r\n")
    if not has_host:
        lines += (b"Host: ", request.url.netloc, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines), chunked, close_after
