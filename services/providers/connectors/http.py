"""Calling an upstream over HTTP with its dialect: encode the request, stream the answer back
as canonical events. One pooled keep-alive httpx client per upstream base URL, on Rhone's own
HTTP/1.1 transport (services/providers/lean_transport.py).

A streaming client's call streams upstream too, so that the first event reaches it as soon as
the upstream produces it; a non-streaming client's is a whole upstream call unfolded into the
same events. A stream that ends without its terminal event is a failure, never a short good
answer. Every wait is bounded by the deployment's timeouts (services/providers/timeouts.py), and
every upstream failure is reduced to what a client may see (upstream_errors.py)."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import AsyncGenerator, Iterable, Iterator
from typing import Any

import httpx
import orjson
from httpx._utils import get_environment_proxies

from rhone import canonical as ev
from rhone.dialects.base import Dialect, StreamDecoder
from rhone.errors import Code, RhoneError, make_failure
from rhone.observability.upstream import ObservedTransport
from rhone.sse import SseDecoder, SseEvent
from rhone.v1 import generation_pb2 as gen
from services.providers.lean_transport import LeanTransport
from services.providers.routing import Deployment
from services.providers.timeouts import DEFAULT_TIMEOUTS
from services.providers.upstream_client import UpstreamClient
from services.providers.upstream_errors import (
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNREACHABLE,
    credentials_failed,
    error_answer,
    invalid_response,
    stream_error,
    timed_out,
)

log = logging.getLogger("rhone.providers.http")

POOL_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=60)
# Each request brings its deployment's bounds; these are for requests that bring none.
TIMEOUT = DEFAULT_TIMEOUTS.http()


class ClientPool:
    """One httpx.AsyncClient per upstream base URL, created on first use. A URL the
    environment sends through a proxy (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY, as httpx reads them)
    goes through httpx's own transport with that proxy: httpx mounts the environment's proxies
    only for a client without ``transport=``, so the client is given them here."""

    def __init__(self) -> None:
        self._clients: dict[str, UpstreamClient] = {}

    def client(self, base_url: str) -> UpstreamClient:
        client = self._clients.get(base_url)
        if client is None:
            transport = ObservedTransport(LeanTransport(limits=POOL_LIMITS))
            client = UpstreamClient(transport, _proxy_mounts(), TIMEOUT)
            self._clients[base_url] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _proxy_mounts() -> dict[str, httpx.AsyncBaseTransport | None]:
    """The environment's proxies as httpx would mount them by itself, read by httpx's own
    function (private, but what AsyncClient calls; httpx is pinned by the lock files). None: no
    proxy for those URLs (NO_PROXY), the client's own transport."""
    return {
        pattern: None
        if url is None
        else ObservedTransport(httpx.AsyncHTTPTransport(limits=POOL_LIMITS, proxy=url))
        for pattern, url in get_environment_proxies().items()
    }


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

    connector_name = ""
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
        except RhoneError as exc:  # a request this upstream cannot take
            yield ev.failed(exc.failure)
            return
        try:
            headers = await self._headers(deployment)
        except RhoneError as exc:
            yield ev.failed(exc.failure)
            return
        client = self._pool.client(deployment.base_url)
        limits = deployment.timeouts
        url = self.url(deployment, request)
        # One deadline for the headers and the first event of a stream; a non-streamed answer
        # comes with its headers, so they get the longer whole-answer bound.
        first_s = limits.whole_s if request.whole else limits.first_byte_s
        first_by = asyncio.get_running_loop().time() + first_s
        try:
            async with asyncio.timeout_at(first_by):
                response = await client.open(
                    url, content=content, headers=headers, bounds=limits.http()
                )
        except TimeoutError:
            yield ev.failed(timed_out(deployment, "response", first_s))
            return
        except httpx.TimeoutException as exc:
            yield ev.failed(_timeout(deployment, exc))
            return
        except httpx.TransportError as exc:
            yield ev.failed(_unreachable(deployment, exc))
            return
        paced: AsyncGenerator[gen.GenerationEvent, None] | None = None
        try:
            if response.status_code >= 400:
                try:
                    async with asyncio.timeout(limits.idle_s):
                        body = await response.aread()
                except TimeoutError:
                    body = b""
                decoded = self.dialect.decode_error(response.status_code, body)
                failure = error_answer(deployment, response.status_code, body, decoded)
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
            paced = _paced(events, deployment, first_by=first_by, first_s=first_s)
            async for event in paced:
                yield event
        except httpx.TimeoutException as exc:
            yield ev.failed(_timeout(deployment, exc))
        except httpx.TransportError as exc:
            yield ev.failed(_unreachable(deployment, exc))
        finally:
            if paced is not None:
                await paced.aclose()
            await response.aclose()

    async def _headers(self, deployment: Deployment) -> dict[str, str]:
        """The request headers; RhoneError (upstream_errors.credentials_failed) when Rhone
        cannot produce its credentials."""
        try:
            return {"content-type": "application/json", **await self.headers(deployment)}
        except RhoneError as exc:
            raise RhoneError(credentials_failed(deployment, exc.failure)) from None

    async def post_json(self, deployment: Deployment, url: str, body: dict[str, Any]) -> Any:
        """One plain JSON call (token counting): the parsed answer, or a RhoneError carrying
        the upstream's error decoded by the dialect."""
        client = self._pool.client(deployment.base_url).client
        headers = await self._headers(deployment)
        limits = deployment.timeouts
        try:
            async with asyncio.timeout(limits.first_byte_s):
                response = await client.post(
                    url, content=orjson.dumps(body), headers=headers, timeout=limits.http()
                )
        except TimeoutError:
            raise RhoneError(timed_out(deployment, "answer", limits.first_byte_s)) from None
        except httpx.TimeoutException as exc:
            raise RhoneError(_timeout(deployment, exc)) from None
        except httpx.TransportError as exc:
            raise RhoneError(_unreachable(deployment, exc)) from None
        if response.status_code >= 400:
            decoded = self.dialect.decode_error(response.status_code, response.content)
            raise RhoneError(
                error_answer(deployment, response.status_code, response.content, decoded)
            )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RhoneError(invalid_response(deployment, "a body that is not JSON")) from None

    async def _whole_events(
        self, response: httpx.Response, deployment: Deployment
    ) -> AsyncGenerator[gen.GenerationEvent, None]:
        """A non-streamed answer, unfolded into the canonical stream it would have been."""
        body = await response.aread()
        try:
            whole = self.dialect.decode_response(orjson.loads(body))
        except orjson.JSONDecodeError:
            yield ev.failed(invalid_response(deployment, "a body that is not JSON"))
            return
        except RhoneError as exc:
            yield ev.failed(stream_error(deployment, exc.failure))
            return
        for event in ev.response_events(whole):
            yield _stamped(event, deployment)

    async def _events(
        self, response: httpx.Response, deployment: Deployment
    ) -> AsyncGenerator[gen.GenerationEvent, None]:
        sse = SseDecoder()
        decoder = self.dialect.stream_decoder()
        ended = False
        try:
            async for text in response.aiter_text():
                for event in _decode(sse.feed(text), decoder):
                    ended = ended or _is_terminal(event)
                    yield _public(event, deployment)
                    if ended and event.HasField("failure"):
                        return
            for event in [*_decode(sse.close(), decoder), *decoder.close()]:
                ended = ended or _is_terminal(event)
                yield _public(event, deployment)
        except _Unreadable as exc:
            yield ev.failed(invalid_response(deployment, exc.what))
            return
        except RhoneError as exc:
            yield ev.failed(stream_error(deployment, exc.failure))
            return
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


def _public(event: gen.GenerationEvent, deployment: Deployment) -> gen.GenerationEvent:
    """A decoded event as it may leave the service: stamped, and an upstream's in-stream error
    reduced to what a client may see (upstream_errors)."""
    if event.HasField("failure"):
        event.failure.CopyFrom(stream_error(deployment, event.failure))
    return _stamped(event, deployment)


async def _paced(
    events: AsyncGenerator[gen.GenerationEvent, None],
    deployment: Deployment,
    *,
    first_by: float,
    first_s: float,
) -> AsyncGenerator[gen.GenerationEvent, None]:
    """``events`` with the first one due by ``first_by`` (loop time) and each next one within
    the deployment's idle bound; a late one ends the stream with ``upstream_timeout``. The
    bound is around each wait only, never around a ``yield``: the consumer's pace is its own.
    One timer serves the whole stream (_Bound), not one per event."""
    idle_s = deployment.timeouts.idle_s
    loop = asyncio.get_running_loop()
    first = True
    try:
        async with asyncio.timeout(None) as timeout:
            bound = _Bound(loop, timeout)
            try:
                while True:
                    bound.wait_until(first_by if first else loop.time() + idle_s)
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        return
                    finally:
                        bound.waiting = False
                    first = False
                    yield event
            finally:
                bound.cancel()
    except TimeoutError:
        if first:
            yield ev.failed(timed_out(deployment, "first event", first_s))
        else:
            yield ev.failed(timed_out(deployment, "event mid-answer", idle_s))
    finally:
        await events.aclose()


class _Bound:
    """The end of the current wait, enforced by one timer that, when it fires early (the
    stream moved on since it was set), sleeps again until the current wait's end. Expiry
    cancels the waiting task through ``timeout`` (asyncio.timeout), which raises
    TimeoutError out of its block."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: asyncio.Timeout) -> None:
        self._loop = loop
        self._timeout = timeout
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0
        self.waiting = False

    def wait_until(self, when: float) -> None:
        self._when = when
        self.waiting = True
        handle = self._handle
        if handle is not None and handle.when() > when:
            handle.cancel()
            handle = None
        if handle is None:
            self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if not self.waiting:
            return
        if self._loop.time() >= self._when:
            self._timeout.reschedule(self._loop.time())
        else:
            self._handle = self._loop.call_at(self._when, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _timeout(deployment: Deployment, exc: httpx.TimeoutException) -> gen.Failure:
    """httpx's own bounds: connecting (or, rarely, writing the body or waiting for the pool)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return timed_out(deployment, "connection", deployment.timeouts.connect_s)
    log.warning("%r: %r", deployment, exc)
    return make_failure(
        Code.ERROR_CODE_TIMEOUT,
        f"The provider {deployment.provider} did not take the request in time.",
        detail=UPSTREAM_TIMEOUT,
        http_status=504,
    )


def _unreachable(deployment: Deployment, exc: httpx.TransportError) -> gen.Failure:
    log.warning("%r: connection failed: %r", deployment, exc)
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE,
        f"The connection to the provider {deployment.provider} failed.",
        detail=UPSTREAM_UNREACHABLE,
        http_status=502,
    )


class _Unreadable(Exception):
    """The upstream's stream is not its wire format (not JSON, not the dialect's shapes)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _decode(items: Iterable[SseEvent], decoder: StreamDecoder) -> Iterator[gen.GenerationEvent]:
    for item in items:
        if item.data == "[DONE]":  # OpenAI's sentinel; the decoder closes on the body's end
            continue
        try:
            payload = orjson.loads(item.data)
        except orjson.JSONDecodeError:
            raise _Unreadable(f"an event that is not JSON ({len(item.data)} bytes)") from None
        try:
            events = list(decoder.feed(item.event, payload))
        except RhoneError:
            raise
        except Exception as exc:  # the decoder met a shape its wire format does not have
            raise _Unreadable(f"an event the dialect cannot read ({type(exc).__name__})") from exc
        yield from events


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
