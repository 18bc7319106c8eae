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
from rhone.errors import Code, RhoneError, make_failure
from rhone.observability.upstream import ObservedTransport
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
            transport = ObservedTransport(httpx.AsyncHTTPTransport(limits=POOL_LIMITS))
            client = httpx.AsyncClient(transport=transport, timeout=TIMEOUT)
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
    """A connector for one wire format. Subclasses say where to send and how to authenticate;
    the body is the dialect's, with the deployment's model name."""

    provider = ""
    dialect: Dialect

    def __init__(self, pool: ClientPool) -> None:
        self._pool = pool

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        raise NotImplementedError

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        """Authentication and version headers (async: a Vertex token may need a refresh)."""
        raise NotImplementedError

    def body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        body = self.dialect.encode_request(request, not request.whole)
        body["model"] = deployment.model
        return body

    async def stream(
        self, request: gen.GenerateRequest, deployment: Deployment
    ) -> AsyncGenerator[gen.GenerationEvent, None]:
        try:
            content = orjson.dumps(self.body(deployment, request))
            headers = {"content-type": "application/json", **await self.headers(deployment)}
        except RhoneError as exc:  # a request this upstream cannot take, or no credentials
            yield ev.failed(exc.failure)
            return
        client = self._pool.client(deployment.base_url)
        try:
            async with client.stream(
                "POST", self.url(deployment, request), content=content, headers=headers
            ) as response:
                if response.status_code >= 400:
                    failure = self.dialect.decode_error(
                        response.status_code, await response.aread()
                    )
                    failure.retry_after_ms = retry_after_ms(response.headers) or (
                        failure.retry_after_ms
                    )
                    yield ev.failed(failure)
                    return
                events = (
                    self._whole_events(response, deployment)
                    if request.whole
                    else self._events(response, deployment)
                )
                async for event in events:
                    yield event
        except httpx.TimeoutException as exc:
            yield ev.failed(_timeout(deployment, exc))
        except httpx.TransportError as exc:
            yield ev.failed(_unreachable(deployment, exc))

    async def post_json(self, deployment: Deployment, url: str, body: dict[str, Any]) -> Any:
        """One plain JSON call (token counting): the parsed answer, or a RhoneError carrying
        the upstream's error decoded by the dialect."""
        client = self._pool.client(deployment.base_url)
        headers = {"content-type": "application/json", **await self.headers(deployment)}
        try:
            response = await client.post(url, content=orjson.dumps(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise RhoneError(_timeout(deployment, exc)) from None
        except httpx.TransportError as exc:
            raise RhoneError(_unreachable(deployment, exc)) from None
        if response.status_code >= 400:
            raise RhoneError(self.dialect.decode_error(response.status_code, response.content))
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RhoneError(
                make_failure(
                    Code.ERROR_CODE_INTERNAL,
                    f"{deployment.provider} answered with a body that is not JSON.",
                    http_status=502,
                )
            ) from None

    async def _whole_events(
        self, response: httpx.Response, deployment: Deployment
    ) -> AsyncIterator[gen.GenerationEvent]:
        """A non-streamed answer, unfolded into the canonical stream it would have been."""
        body = await response.aread()
        try:
            whole = self.dialect.decode_response(orjson.loads(body))
        except orjson.JSONDecodeError:
            yield ev.failed(
                make_failure(
                    Code.ERROR_CODE_UNAVAILABLE,
                    f"{deployment.provider} answered with a body that is not JSON.",
                    http_status=502,
                )
            )
            return
        except RhoneError as exc:
            yield ev.failed(exc.failure)
            return
        for event in ev.response_events(whole):
            yield _stamped(event, deployment)

    async def _events(
        self, response: httpx.Response, deployment: Deployment
    ) -> AsyncIterator[gen.GenerationEvent]:
        sse = SseDecoder()
        decoder = self.dialect.stream_decoder()
        ended = False
        async for text in response.aiter_text():
            for event in _decode(sse.feed(text), decoder):
                ended = ended or _is_terminal(event)
                yield _stamped(event, deployment)
        for event in [*_decode(sse.close(), decoder), *decoder.close()]:
            ended = ended or _is_terminal(event)
            yield _stamped(event, deployment)
        if not ended:
            yield ev.failed(
                make_failure(
                    Code.ERROR_CODE_UNAVAILABLE,
                    f"The {deployment.provider} stream ended before the response was complete.",
                    http_status=502,
                )
            )


def _stamped(event: gen.GenerationEvent, deployment: Deployment) -> gen.GenerationEvent:
    """The deployment's provider name on the started event: a named OpenAI-compatible server
    reports its own name, not "openai", so that what it signed is never replayed to OpenAI."""
    if event.HasField("started") and event.started.provider != deployment.provider:
        event.started.provider = deployment.provider
    return event


def _timeout(deployment: Deployment, exc: httpx.TimeoutException) -> gen.Failure:
    return make_failure(
        Code.ERROR_CODE_TIMEOUT, f"{deployment.provider} timed out: {type(exc).__name__}"
    )


def _unreachable(deployment: Deployment, exc: httpx.TransportError) -> gen.Failure:
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE,
        f"Connection to {deployment.provider} failed: {type(exc).__name__}",
        http_status=502,
    )


def _decode(items: Iterable[SseEvent], decoder: StreamDecoder) -> Iterator[gen.GenerationEvent]:
    for item in items:
        if item.data == "[DONE]":  # OpenAI's sentinel; the decoder closes on the body's end
            continue
        yield from decoder.feed(item.event, orjson.loads(item.data))


def _is_terminal(event: gen.GenerationEvent) -> bool:
    return event.HasField("finished") or event.HasField("failure")


def count_of(answer: Any, key: str, deployment: Deployment) -> int:
    """The token count in a counting endpoint's answer, or a retryable failure (the servicer
    then falls back to an estimate) when the answer does not hold one."""
    value = answer.get(key) if isinstance(answer, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RhoneError(
        make_failure(
            Code.ERROR_CODE_INTERNAL,
            f"{deployment.provider} answered a token count without '{key}'.",
            http_status=502,
        )
    )
