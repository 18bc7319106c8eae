"""The providers' HTTP/1.1 transport (services/providers/lean_transport.py) through httpx's
client, against a raw asyncio server written here: bodies in each framing, keep-alive, early
close, every timeout and failure as the httpx exception the connectors rely on, TLS, and the
environment's proxies still applied by ClientPool, and the pool's clients (UpstreamClient)
sending as httpx's client would, without its cookies."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.providers.connectors.http import ClientPool
from services.providers.lean_transport import LeanTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
BOUNDS = httpx.Timeout(connect=2.0, read=2.0, write=2.0, pool=2.0)


class RawServer:
    """HTTP/1.1 by hand on 127.0.0.1: each connection runs ``handler``; ``connections``
    counts the accepted ones, ``requests`` the request heads read (read_request)."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[bytes, dict[bytes, bytes], bytes]] = []
        self.closed_by_client = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bool:
        """One request, head and body (Content-Length or chunked); False at the connection's
        end (then ``closed_by_client`` is set)."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            self.closed_by_client.set()
            return False
        line, *fields = head[:-4].split(b"\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (f.split(b":", 1) for f in fields)}
        body = b""
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        self.requests.append((line, headers, body))
        return True


def answer(body: bytes, *headers: bytes, status: bytes = b"200 OK") -> bytes:
    fields = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 " + status + b"\r\n" + fields + b"\r\n" + body


def replying(*replies: bytes) -> Callable[[RawServer], Handler]:
    """A handler that answers each request on a connection with the next reply."""

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for reply in replies:
                if not await server.read_request(reader):
                    return
                writer.write(reply)
                await writer.drain()
            await server.read_request(reader)

        return handle

    return make


def serving(make: Callable[[RawServer], Handler], tls: ssl.SSLContext | None = None) -> RawServer:
    server = RawServer(lambda r, w: asyncio.sleep(0), tls)
    server.handler = make(server)
    return server


def client(transport: LeanTransport | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport or LeanTransport(), timeout=BOUNDS)


async def test_a_content_length_answer_is_read_and_the_request_sent_as_httpx_built_it() -> None:
    hello = answer(b"hello", b"Content-Length: 5", b"X-Twice: a", b"X-Twice: b")
    async with serving(replying(hello)) as server, client() as http:
        response = await http.post(server.url + "/v1/x?q=1", content=b'{"a":1}')

    assert (response.status_code, response.text, response.http_version) == (
        200,
        "hello",
        "HTTP/1.1",
    )
    assert response.reason_phrase == "OK"
    assert response.headers.get_list("x-twice") == ["a", "b"]
    line, headers, body = server.requests[0]
    assert line == b"POST /v1/x?q=1 HTTP/1.1"
    assert (body, headers[b"content-length"]) == (b'{"a":1}', b"7")
    assert headers[b"host"] == server.url.removeprefix("http://").encode()


async def test_a_chunked_answer_streams_each_chunk_as_it_arrives() -> None:
    taken = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(answer(b"5\r\nfirst\r\n", b"Transfer-Encoding: chunked"))
            await taken.wait()  # the second chunk only once the client holds the first
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await server.read_request(reader)

        return handle

    async with serving(make) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            chunks = []
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
                taken.set()
    assert chunks == [b"first", b"second"]


async def test_a_body_delimited_by_the_connection_end_is_whole_and_its_connection_gone() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(answer(b"until the end"))
        await writer.drain()

    server = RawServer(handle)
    async with server, client() as http:
        first = await http.get(server.url)
        second = await http.get(server.url)
    assert first.text == second.text == "until the end"
    assert server.connections == 2


async def test_two_sequential_calls_share_one_connection() -> None:
    ok = answer(b"ok", b"Content-Length: 2")
    chunked = answer(b"2\r\nok\r\n0\r\n\r\n", b"Transfer-Encoding: chunked")
    async with serving(replying(ok, chunked, ok)) as server, client() as http:
        texts = [(await http.post(server.url, content=b"x")).text for _ in range(3)]
    assert texts == ["ok", "ok", "ok"]
    assert server.connections == 1


async def test_head_204_and_304_have_no_body_and_keep_the_connection() -> None:
    replies = (
        answer(b"", b"Content-Length: 1000"),  # HEAD: the length of the body it does not send
        answer(b"", status=b"204 No Content"),
        answer(b"", status=b"304 Not Modified"),
        answer(b"done", b"Content-Length: 4"),
    )
    async with serving(replying(*replies)) as server, client() as http:
        head = await http.head(server.url)
        empty = await http.get(server.url)
        unchanged = await http.get(server.url)
        last = await http.get(server.url)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "1000")
    assert (empty.status_code, empty.content, unchanged.status_code) == (204, b"", 304)
    assert last.text == "done"
    assert server.connections == 1


async def test_a_connection_close_from_either_side_is_not_reused() -> None:
    closing = answer(b"ok", b"Content-Length: 2", b"Connection: close")
    plain = answer(b"ok", b"Content-Length: 2")
    async with serving(replying(closing)) as server, client() as http:
        await http.get(server.url)
        await http.get(server.url)
    assert server.connections == 2
    async with serving(replying(plain)) as server, client() as http:
        await http.get(server.url, headers={"connection": "close"})
        await http.get(server.url)
    assert server.connections == 2


async def test_both_framings_read_chunked_as_httpx_does_and_the_connection_goes() -> None:
    both = answer(b"5\r\nfirst\r\n0\r\n\r\n", b"Content-Length: 3", b"Transfer-Encoding: chunked")
    async with serving(replying(both, both)) as server, client() as http:
        texts = [(await http.get(server.url)).text for _ in range(2)]
    assert texts == ["first", "first"]
    assert server.connections == 2


async def test_a_response_closed_before_its_end_drops_its_connection() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(answer(b"5\r\nfirst\r\n", b"Transfer-Encoding: chunked"))
            await server.read_request(reader)  # never a second request: the client left

        return handle

    async with serving(make) as server, client() as http:
        async with http.stream("GET", server.url) as response:
            async for _ in response.aiter_raw():
                break
        await asyncio.wait_for(server.closed_by_client.wait(), 2)
        server.handler = replying(answer(b"ok", b"Content-Length: 2"))(server)
        assert (await http.get(server.url)).text == "ok"
    assert server.connections == 2


async def test_an_informational_response_is_skipped_and_http_1_0_is_reported() -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok"
    async with serving(replying(reply)) as server, client() as http:
        response = await http.get(server.url)
    assert (response.status_code, response.http_version, response.text) == (201, "HTTP/1.0", "ok")


async def test_an_async_iterator_body_goes_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"one,"
        yield b"two"

    async with serving(replying(answer(b"", b"Content-Length: 0"))) as server, client() as http:
        await http.post(server.url, content=parts())
    _, headers, body = server.requests[0]
    assert (headers[b"transfer-encoding"], body) == (b"chunked", b"one,two")


async def test_content_encoding_is_left_to_httpx() -> None:
    packed = gzip.compress(b"unpacked by httpx")
    reply = answer(packed, b"Content-Encoding: gzip", b"Content-Length: %d" % len(packed))
    async with serving(replying(reply)) as server, client() as http:
        response = await http.get(server.url)
    assert response.text == "unpacked by httpx"


# -- failures, as httpx's own exceptions --------------------------------------------------------


def silent(server: RawServer) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await server.read_request(reader)

    return handle


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async with serving(silent) as server, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url, timeout=httpx.Timeout(2.0, read=0.2))


async def test_a_body_that_stalls_is_a_read_timeout_per_chunk() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(answer(b"5\r\nfirst\r\n", b"Transfer-Encoding: chunked"))
            await server.read_request(reader)

        return handle

    async with serving(make) as server, client() as http:
        async with http.stream("GET", server.url, timeout=httpx.Timeout(2.0, read=0.2)) as reply:
            stream = reply.aiter_raw()
            assert await anext(stream) == b"first"
            with pytest.raises(httpx.ReadTimeout):
                await anext(stream)


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (b"", "Server disconnected without sending a response."),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "complete response head"),
        (answer(b"abc", b"Content-Length: 10"), "complete message body"),
        (answer(b"5\r\nfirst\r\n", b"Transfer-Encoding: chunked"), "complete message body"),
        (b"<html>502 Bad Gateway</html>\r\n\r\n", "malformed HTTP response"),
    ],
    ids=["nothing", "mid-head", "mid-body", "mid-chunks", "not-http"],
)
async def test_a_server_that_stops_short_or_is_not_http_is_a_remote_protocol_error(
    sent: bytes, message: str
) -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(sent)
            await writer.drain()

        return handle

    async with serving(make) as server, client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            response = await http.get(server.url)
            assert response.status_code == 200  # the head came: the body fails
    assert server.connections == 1


async def test_a_reset_connection_is_a_read_error() -> None:
    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(answer(b"5\r\nfirst\r\n", b"Transfer-Encoding: chunked"))
            await writer.drain()
            linger = struct.pack("ii", 1, 0)  # close with a reset, not a FIN
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            writer.transport.abort()

        return handle

    async with serving(make) as server, client() as http:
        with pytest.raises(httpx.ReadError):
            await http.get(server.url)


async def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_connect_that_does_not_complete_is_a_connect_timeout() -> None:
    # A TLS server that never finishes its handshake: the connect bound covers TLS too.
    async def handshake_never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with RawServer(handshake_never) as server, client() as http:
        url = server.url.replace("http://", "https://")
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(url, timeout=httpx.Timeout(2.0, connect=0.2))


async def test_a_full_pool_is_a_pool_timeout_and_a_freed_connection_serves_the_next() -> None:
    transport = LeanTransport(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
    ok = answer(b"2\r\nok\r\n0\r\n\r\n", b"Transfer-Encoding: chunked")
    async with serving(replying(ok, ok)) as server, client(transport) as http:
        async with http.stream("GET", server.url) as held:
            with pytest.raises(httpx.PoolTimeout):
                await http.get(server.url, timeout=httpx.Timeout(2.0, pool=0.2))
            waiting = asyncio.ensure_future(http.get(server.url))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            await held.aread()
        assert (await waiting).text == "ok"
    assert server.connections == 1


# -- TLS --------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts it (and nothing else)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rhone test upstream")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return server, ssl.create_default_context(cadata=pem.decode())


async def test_https_with_the_trusted_certificate_and_a_connect_error_without(
    tmp_path: Path,
) -> None:
    server_tls, trusting = self_signed(tmp_path)
    ok = answer(b"secret", b"Content-Length: 6")
    async with serving(replying(ok, ok), server_tls) as server:
        async with client(LeanTransport(ssl_context=trusting)) as http:
            first = await http.get(server.url)
            second = await http.get(server.url)
        assert (first.text, second.text, server.connections) == ("secret", "secret", 1)
        async with client() as http:  # httpx's default trust: this certificate is no one's
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await http.get(server.url)


def test_the_transport_runs_on_uvloop_as_the_service_does(tmp_path: Path) -> None:
    async def scenario() -> None:
        await test_a_chunked_answer_streams_each_chunk_as_it_arrives()
        await test_a_response_closed_before_its_end_drops_its_connection()
        await test_https_with_the_trusted_certificate_and_a_connect_error_without(tmp_path)
        await test_a_server_that_never_answers_is_a_read_timeout()

    uvloop.run(scenario())


# -- proxies ----------------------------------------------------------------------------------


async def test_the_environments_proxy_still_carries_the_upstream_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxied = answer(b"via the proxy", b"Content-Length: 13")
    async with serving(replying(proxied)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        pool = ClientPool()
        try:
            response = await pool.client("http://upstream.invalid/v1").open(
                "http://upstream.invalid/v1/chat/completions",
                content=b"{}",
                headers={"content-type": "application/json"},
                bounds=BOUNDS,
            )
            assert await response.aread() == b"via the proxy"
        finally:
            await pool.aclose()
    line, headers, body = proxy.requests[0]
    assert line == b"POST http://upstream.invalid/v1/chat/completions HTTP/1.1"
    assert body == b"{}" and headers[b"content-type"] == b"application/json"


# -- the pool's clients ------------------------------------------------------------------------


def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def test_an_upstream_cookie_is_never_sent_back_on_a_later_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool's client of an upstream serves every tenant: a Set-Cookie on one call's
    answer must not ride on the next call, which may be another key's. Generations go
    straight to the transport; token counting goes through httpx's client API."""
    _no_proxies(monkeypatch)
    cookie = answer(b"{}", b"Content-Length: 2", b"Set-Cookie: __cf_bm=tenant-a; Path=/")
    async with serving(replying(cookie, cookie, cookie, cookie)) as server:
        pool = ClientPool()
        try:
            upstream = pool.client(server.url)
            url = server.url + "/v1/chat/completions"
            await upstream.client.post(url, content=b"{}")
            response = await upstream.open(url, content=b"{}", headers={}, bounds=BOUNDS)
            await response.aread()
            await response.aclose()
            await upstream.client.post(url, content=b"{}")
            assert not upstream.client.cookies
        finally:
            await pool.aclose()
    assert len(server.requests) == 3
    assert all(b"cookie" not in headers for _, headers, _ in server.requests)


async def test_a_direct_request_has_httpx_default_headers_and_the_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_proxies(monkeypatch)
    async with serving(replying(answer(b"ok", b"Content-Length: 2"))) as server:
        pool = ClientPool()
        try:
            response = await pool.client(server.url).open(
                server.url + "/v1/messages?beta=true",
                content=b'{"a":1}',
                headers={"x-api-key": "k", "user-agent": "rhone-test"},
                bounds=BOUNDS,
            )
            assert response.status_code == 200 and await response.aread() == b"ok"
            assert response.request.url == httpx.URL(server.url + "/v1/messages?beta=true")
        finally:
            await pool.aclose()
    line, headers, body = server.requests[0]
    assert line == b"POST /v1/messages?beta=true HTTP/1.1"
    assert body == b'{"a":1}' and headers[b"content-length"] == b"7"
    assert headers[b"x-api-key"] == b"k" and headers[b"user-agent"] == b"rhone-test"
    assert headers[b"accept"] == b"*/*" and b"gzip" in headers[b"accept-encoding"]
    assert headers[b"host"] == server.url.removeprefix("http://").encode()


async def test_a_failed_direct_request_names_its_request(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_proxies(monkeypatch)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    pool = ClientPool()
    try:
        with pytest.raises(httpx.ConnectError) as failed:
            await pool.client(f"http://127.0.0.1:{port}").open(
                url, content=b"{}", headers={}, bounds=BOUNDS
            )
    finally:
        await pool.aclose()
    assert failed.value.request.url == httpx.URL(url)
