"""Calling an upstream over HTTP with its dialect: encode the request, stream the answer back
as canonical events. One pooled keep-alive httpx client per upstream base URL.

Upstreams are always called streaming, so that the first event can reach the caller as soon
as the upstream produces it and a non-streaming client gets the same events folded. A stream
that ends without its terminal event is a failure, never a short good answer."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator
from typing import Any

import httpx
import orjson

from rhone import canonical as ev
from rhone.dialects.base import Dialect, StreamDecoder
from rhone.errors import Code, make_failure
from rhone.sse import SseDecoder, SseEvent
from rhone.v1 import generation_pb2 as gen
from services.providers.routing import Deployment

POOL_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=30.0)


class ClientPool:
    """One httpx.AsyncClient per upstream base URL, created on first use."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, base_url: str) -> httpx.AsyncClient:
        client = self._clients.get(base_url)
        if client is None:
            client = httpx.AsyncClient(limits=POOL_LIMITS, timeout=TIMEOUT, http2=False)
            self._clients[base_url] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def retry_after_ms(headers: httpx.Headers) -> int:
    """retry-after-ms, else retry-after in seconds or as an HTTP date; 0 when absent."""
    if value := headers.get("retry-after-ms"):
        try:
            return max(int(float(value)), 0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return 0
    try:
        return max(int(float(value) * 1000), 0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(int((parsed.timestamp() - time.time()) * 1000), 0) if parsed else 0


class HttpConnector:
    """A connector for one wire format. Subclasses say where to send and how to authenticate."""

    provider = ""
    dialect: Dialect

    def __init__(self, pool: ClientPool) -> None:
        self._pool = pool

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        raise NotImplementedError

    def headers(self, deployment: Deployment) -> dict[str, str]:
        raise NotImplementedError

    def body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        body = self.dialect.encode_request(request, True)
        body["model"] = deployment.model
        return body

    async def stream(
        self, request: gen.GenerateRequest, deployment: Deployment
    ) -> AsyncGenerator[gen.GenerationEvent, None]:
        client = self._pool.client(deployment.base_url)
        content = orjson.dumps(self.body(deployment, request))
        headers = {"content-type": "application/json", **self.headers(deployment)}
        try:
            async with client.stream(
                "POST", self.url(deployment, request), content=content, headers=headers
            ) as response:
                if response.status_code >= 400:
                    failure = self.dialect.decode_error(
                        response.status_code, await response.aread()
                    )
                    failure.retry_after_ms = retry_after_ms(response.headers)
                    yield ev.failed(failure)
                    return
                async for event in self._events(response):
                    yield event
        except httpx.TimeoutException as exc:
            yield ev.failed(
                make_failure(Code.ERROR_CODE_TIMEOUT, f"{self.provider} timed out: {exc!r}")
            )
        except httpx.TransportError as exc:
            yield ev.failed(
                make_failure(
                    Code.ERROR_CODE_UNAVAILABLE,
                    f"Connection to {self.provider} failed: {type(exc).__name__}",
                    http_status=502,
                )
            )

    async def _events(self, response: httpx.Response) -> AsyncIterator[gen.GenerationEvent]:
        sse = SseDecoder()
        decoder = self.dialect.stream_decoder()
        ended = False
        async for text in response.aiter_text():
            for event in _decode(sse.feed(text), decoder):
                ended = ended or _is_terminal(event)
                yield event
        for event in [*_decode(sse.close(), decoder), *decoder.close()]:
            ended = ended or _is_terminal(event)
            yield event
        if not ended:
            yield ev.failed(
                make_failure(
                    Code.ERROR_CODE_UNAVAILABLE,
                    f"The {self.provider} stream ended before the response was complete.",
                    http_status=502,
                )
            )


def _decode(items: Iterable[SseEvent], decoder: StreamDecoder) -> Iterator[gen.GenerationEvent]:
    for item in items:
        if item.data == "[DONE]":  # OpenAI's sentinel; the decoder closes on the body's end
            continue
        yield from decoder.feed(item.event, orjson.loads(item.data))


def _is_terminal(event: gen.GenerationEvent) -> bool:
    return event.HasField("finished") or event.HasField("failure")
