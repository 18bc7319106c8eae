"""One HTTP/1.1 client connection: an asyncio Protocol that writes a request and parses its
response with httptools (llhttp, the parser uvicorn uses), for services/providers/
lean_transport.py.

The response's body is handed over as it arrives, chunk by chunk, through ResponseBody (an
httpx.AsyncByteStream). Every failure is one of httpx's own exceptions, as httpcore raises
them: a wait for the head or a body chunk past the read bound is ReadTimeout, a peer that
closes before the end of the response or sends what is not HTTP is RemoteProtocolError, a
reset connection is ReadError. Content-Encoding is left to httpx.Response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import cast

import httptools
import httpx

# A reader that stops reading stops the socket: past this much unread body, the connection
# stops reading until the reader takes it.
_READ_HIGH_WATER = 256 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
# What a waiter is woken with when its bound passed first (here and in lean_transport.py).
TIMED_OUT = object()


def expire(waiter: asyncio.Future[object]) -> None:
    if not waiter.done():
        waiter.set_result(TIMED_OUT)


class Http1Connection(asyncio.Protocol):
    """A connection, with at most one exchange (request and response) on it at a time.

    ``reusable`` says whether the last exchange ended with the connection fit for the next:
    its response read to its end, neither side asking to close."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int]) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[object] | None = None
        self._write_waiter: asyncio.Future[object] | None = None
        self._writing_paused = False
        self._reading_paused = False
        self._close_after = False  # the request said Connection: close
        self._begin(False)

    def _begin(self, head_only: bool) -> None:
        self._head_only = head_only  # a HEAD request: its response has no body
        self._received = False
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._framed = False  # Content-Length or Transfer-Encoding: the body ends by itself
        self._ambiguous = False
        self._head_done = False
        self._keep_alive = False
        self._body: list[bytes] = []
        self._buffered = 0
        self.complete = False
        self._error: tuple[type[httpx.TransportError], str] | None = None

    # -- the exchange, as the transport drives it --------------------------------------------

    async def send(
        self,
        head: bytes,
        body: bytes | AsyncIterable[bytes],
        *,
        chunked: bool,
        head_only: bool,
        close_after: bool,
        write_timeout: float | None,
    ) -> None:
        """Write the request. A connection the server closed meanwhile is not an error here
        (httpcore's choice too): it may have answered first, which reading the head shows."""
        self._begin(head_only)
        self._close_after = close_after
        parser = self._parser = httptools.HttpResponseParser(self)
        # Both Content-Length and Transfer-Encoding: chunked wins, as in h11 (httpx's parser);
        # llhttp refuses such a response unless told. Its connection is not reused (on_header).
        parser.set_dangerous_leniencies(lenient_chunked_length=True)
        transport = self.transport
        assert transport is not None
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        if isinstance(body, bytes | bytearray | memoryview):
            transport.write(head + body if body else head)
            await self._drain(write_timeout)
            return
        transport.write(head)
        async for chunk in body:
            if not chunk:
                continue
            if chunked:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                transport.write(chunk)
            await self._drain(write_timeout)
        if chunked:
            transport.write(b"0\r\n\r\n")
        await self._drain(write_timeout)

    async def receive_head(
        self, request: httpx.Request, read_timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
        """The response's status, raw headers, reason phrase and HTTP version."""
        while not self._head_done:
            self._raise_failure(request)
            await self._wait(request, read_timeout)
        parser = self._parser
        old = parser is not None and parser.get_http_version() == "1.0"
        return self._status, self._headers, self._reason, b"HTTP/1.0" if old else b"HTTP/1.1"

    async def next_chunk(self, request: httpx.Request, read_timeout: float | None) -> bytes:
        """The body received since the last call (waiting for some); b"" at its end."""
        while True:
            body = self._body
            if body:
                chunk = body[0] if len(body) == 1 else b"".join(body)
                body.clear()
                self._buffered = 0
                if self._reading_paused and self.transport is not None and not self.closed:
                    self._reading_paused = False
                    self.transport.resume_reading()
                return chunk
            if self.complete:
                return b""
            self._raise_failure(request)
            await self._wait(request, read_timeout)

    @property
    def reusable(self) -> bool:
        return self.complete and self._keep_alive and not self._close_after and not self.closed

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _raise_failure(self, request: httpx.Request) -> None:
        if self._error is not None:
            kind, message = self._error
            raise kind(message, request=request)

    async def _wait(self, request: httpx.Request, bound: float | None) -> None:
        """Until the connection has news (data, its end, a failure); ReadTimeout past
        ``bound`` seconds without any."""
        waiter = self.loop.create_future()
        self._waiter = waiter
        try:
            if bound is None:
                await waiter
            else:
                handle = self.loop.call_later(bound, expire, waiter)
                try:
                    await waiter
                finally:
                    handle.cancel()
        finally:
            self._waiter = None
        if waiter.result() is TIMED_OUT:
            raise httpx.ReadTimeout("timed out waiting for the response", request=request)

    async def _drain(self, bound: float | None) -> None:
        while self._writing_paused and not self.closed:
            waiter = self.loop.create_future()
            self._write_waiter = waiter
            handle = None if bound is None else self.loop.call_later(bound, expire, waiter)
            try:
                await waiter
            finally:
                self._write_waiter = None
                if handle is not None:
                    handle.cancel()
            if waiter.result() is TIMED_OUT:
                raise httpx.WriteTimeout("timed out writing the request")

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, kind: type[httpx.TransportError], message: str) -> None:
        if self._error is None and not self.complete:
            self._error = (kind, message)
        self._wake()

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.complete:  # nothing asked: the connection is not HTTP's
            self._keep_alive = False
            self.close()
            return
        self._received = True
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError, "the server switched protocols")
            self.close()
        except httptools.HttpParserError as exc:
            if not self.complete:  # bytes after a complete response are not worth reading
                self._fail(httpx.RemoteProtocolError, f"malformed HTTP response: {exc}")
            self._keep_alive = False
            self.close()
        self._wake()

    def eof_received(self) -> bool:
        return False  # close: a half-closed connection is not reused

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._parser is not None and not self.complete:
            if exc is not None:
                self._fail(httpx.ReadError, str(exc) or type(exc).__name__)
            elif self._head_done and not self._framed:
                self.complete = True  # a body delimited by the connection's end
            elif not self._received:
                self._fail(
                    httpx.RemoteProtocolError, "Server disconnected without sending a response."
                )
            elif not self._head_done:
                self._fail(
                    httpx.RemoteProtocolError,
                    "peer closed connection without sending a complete response head",
                )
            else:
                self._fail(
                    httpx.RemoteProtocolError,
                    "peer closed connection without sending complete message body",
                )
        self._wake()
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second response to one request: the connection is not sound
            self._keep_alive = False
            return
        self._reason = b""
        self._headers = []
        self._framed = self._ambiguous = False

    def on_status(self, reason: bytes) -> None:
        if not self.complete:
            self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self._headers.append((name, value))
        if len(name) in (14, 17) and name.lower() in (b"content-length", b"transfer-encoding"):
            if self._framed:  # both, or either twice: framing a proxy may read otherwise
                self._ambiguous = True
            self._framed = True

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if self.complete:
            return
        if status < 200 and status != 101:
            return  # informational (100 Continue): the response proper follows
        self._status = status
        self._keep_alive = parser.should_keep_alive() and not self._ambiguous
        self._head_done = True
        if self._head_only or status in _NO_BODY_STATUSES:
            self._framed = True
            self.complete = True

    def on_body(self, chunk: bytes) -> None:
        if self.complete:
            return
        self._body.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > _READ_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._head_done:
            self.complete = True


class ResponseBody(httpx.AsyncByteStream):
    """A response's body as it arrives. Read to its end, it gives its connection back to the
    pool (``release``, with whether the connection can carry another request); closed before,
    the connection goes, its response unread."""

    def __init__(
        self,
        connection: Http1Connection,
        request: httpx.Request,
        read_timeout: float | None,
        release: Callable[[Http1Connection], None],
    ) -> None:
        self._connection = connection
        self._request = request
        self._read_timeout = read_timeout
        self._release: Callable[[Http1Connection], None] | None = release

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._release is None:
            raise StopAsyncIteration
        chunk = await self._connection.next_chunk(self._request, self._read_timeout)
        if chunk:
            return chunk
        self._give_back()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        dropped = self._release is not None and not self._connection.reusable
        self._give_back()
        if dropped:  # the socket closes on the loop's next turn (asyncio); let it, as anyio does
            await asyncio.sleep(0)

    def _give_back(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(self._connection)
