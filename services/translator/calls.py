"""A public-surface call, end to end: decode the body with the surface's dialect, run the turn,
and stream back ready-to-write frames: first the head (status, headers), then bytes.

Failures before the first generated event are a plain HTTP error in the surface's shape (every
SDK maps status codes to its exception classes only then); after it, the dialect renders them
inside the stream."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson

from rhone.dialects.base import DecodedCall, Dialect
from rhone.errors import Code, RhoneError, make_failure
from rhone.ids import check_body_id
from rhone.jsonutil import loads_object
from rhone.observability import scope
from rhone.rpc_errors import failure_of_rpc
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.translator.compaction.compactor import Compactor
from services.translator.context_policy import with_responses_truncation
from services.translator.continuity import Continuity, parse_continuity
from services.translator.framing import Framer, JsonArrayFramer, SseFramer, WebSocketFramer
from services.translator.item_references import resolve_item_references
from services.translator.responses_compact import COMPACT_METHOD, compact_call
from services.translator.stored_responses import STORED_RESPONSE_METHODS, stored_response_call
from services.translator.surfaces import SurfaceSpec, spec_for
from services.translator.turns import OpenTurn, TurnRunner

JSON = "application/json"
_GOOGLE = (tpb.SURFACE_GEMINI, tpb.SURFACE_VERTEX)


def head(
    status: int,
    content_type: str,
    headers: dict[str, str] | None = None,
    *,
    stream: bool = False,
) -> tpb.CallFrame:
    return tpb.CallFrame(
        head=tpb.CallHead(
            status=status, content_type=content_type, headers=headers or {}, stream=stream
        )
    )


def data(payload: bytes) -> tpb.CallFrame:
    return tpb.CallFrame(data=payload)


def error_frames(
    dialect: Dialect, failure: gen.Failure, headers: dict[str, str] | None = None
) -> list[tpb.CallFrame]:
    scope.note_failure(failure)
    status, body = dialect.encode_error(failure)
    headers = dict(headers or {})
    if failure.detail:
        # The stable reason (model_not_found, session_busy, ...) even where the surface's own
        # error body has no field for it (Anthropic, Gemini).
        headers["x-rhone-error-code"] = failure.detail
    return [head(status, JSON, headers), data(orjson.dumps(body))]


def framer_for(request: tpb.CallRequest) -> Framer:
    if request.transport == tpb.TRANSPORT_WEBSOCKET:
        return WebSocketFramer()
    if request.surface in _GOOGLE and request.params.get("alt") != "sse":
        return JsonArrayFramer()
    return SseFramer()


def count_refusal(exc: grpc.aio.AioRpcError) -> gen.Failure:
    """The providers service's refusal of a count as the client's failure: a model nothing
    serves (404, `model_not_found`, about `model`) or a request the upstream refused (400);
    anything else is the service's trouble, not the client's."""
    return failure_of_rpc(
        exc,
        service="providers",
        details={grpc.StatusCode.NOT_FOUND: "model_not_found"},
        params={"model_not_found": "model"},
    )


class CallHandler:
    def __init__(self, runner: TurnRunner, compactor: Compactor) -> None:
        self.runner = runner
        self.compactor = compactor

    async def call(self, request: tpb.CallRequest) -> AsyncIterator[tpb.CallFrame]:
        surface = spec_for(request.surface)
        if surface is None:
            raise ValueError(f"unsupported surface {request.surface}")
        dialect = surface.dialect
        if surface.count_method and request.method == surface.count_method:
            for frame in await self._count(surface, request):
                yield frame
            return
        if request.method == COMPACT_METHOD and request.surface == tpb.SURFACE_OPENAI_RESPONSES:
            for frame in await compact_call(self.runner, self.compactor, surface, request):
                yield frame
            return
        if request.method in STORED_RESPONSE_METHODS:
            for frame in await stored_response_call(self.runner.sessions, surface, request):
                yield frame
            return
        model = ""
        try:
            body = loads_object(request.body)
            continuity = parse_continuity(body.pop("rhone", None))
            if surface.item_references:
                await resolve_item_references(
                    self.runner.sessions, surface, request.tenant_id, body
                )
            decoded = dialect.decode_request(body, request.params)
            self.compactor.open(request.tenant_id, decoded.request)
            surface.set_home_provider(decoded.request)
            model = decoded.request.model
            decoded.request.whole = not decoded.stream
            continuity = _with_surface_options(continuity, decoded, request)
            if request.surface == tpb.SURFACE_OPENAI_RESPONSES:
                continuity = with_responses_truncation(continuity, body.get("truncation"))
            response_id = (
                surface.response_prefix + secrets.token_hex(24) if surface.response_prefix else ""
            )
            settings = (
                surface.response_settings(decoded)
                if surface.response_settings is not None
                else None
            )
            # Nothing may fail between taking the lease and the `finally` that gives it back.
            turn = await self.runner.open(
                request.tenant_id, decoded.request, continuity, response_id=response_id
            )
            turn.response_settings = settings
        except RhoneError as exc:
            for frame in error_frames(dialect, exc.failure):
                yield frame
            yield tpb.CallFrame(trailer=tpb.CallTrailer(failure=exc.failure, model=model))
            return
        # A socket keeps its `store: false` responses in memory (OpenAI's WebSocket mode).
        keep = request.transport == tpb.TRANSPORT_WEBSOCKET and not continuity.record
        frames = (
            self._stream(dialect, decoded, turn, framer_for(request), keep=keep)
            if decoded.stream
            else self._whole(surface, decoded, turn)
        )
        try:
            async for frame in frames:
                yield frame
        finally:
            await turn.release()

    async def _stream(
        self,
        dialect: Dialect,
        decoded: DecodedCall,
        turn: OpenTurn,
        framer: Framer,
        *,
        keep: bool = False,
    ) -> AsyncIterator[tpb.CallFrame]:
        meter = _Meter(decoded)
        batches = turn.batches()
        first = await anext(batches, None)
        meter.first_event()
        failed = first is None or first[0].HasField("failure")
        headers = _session_headers(turn, failed=failed)
        if failed:
            failure = first[0].failure if first is not None else _no_answer()
            for frame in error_frames(dialect, failure, headers):
                yield frame
            yield meter.trailer(turn, failure)
            return
        scope.note_started(turn.composed.request.model, turn.accumulator.response.provider)
        yield head(200, framer.content_type, {**headers, "cache-control": "no-cache"}, stream=True)
        encoder = dialect.stream_encoder(decoded, _meta(turn))
        trailer = tpb.CallTrailer()  # the stream's failure, if any; meter.trailer is sent
        batch: list[gen.GenerationEvent] | None = first
        while batch is not None:
            # The events that came together are written together: one frame, one write.
            items: list[Any] = []
            for event in batch:
                if event.HasField("failure"):
                    trailer.failure.CopyFrom(event.failure)
                items += encoder.encode(event)
            if items:
                yield data(framer.frame(items))
            batch = await anext(batches, None)
        if not turn.completed and not trailer.HasField("failure"):
            # The provider's stream ended without a last word: the client is told, in the
            # surface's own error signal, rather than left with a truncated answer.
            trailer.failure.CopyFrom(_no_answer())
            items = encoder.encode(gen.GenerationEvent(failure=trailer.failure))
            if items:
                yield data(framer.frame(items))
        # The trailer goes before the closing bytes: a client that hangs up the moment it has
        # read them (as SDKs do after [DONE]) must not cost the facade the call's usage.
        last = meter.trailer(turn, trailer.failure if trailer.HasField("failure") else None)
        if keep and turn.completed and turn.response_id:
            last.trailer.kept.CopyFrom(turn.kept())
        yield last
        closing = framer.frame(encoder.close()) + framer.close()
        if closing:
            yield data(closing)

    async def _whole(
        self, surface: SurfaceSpec, decoded: DecodedCall, turn: OpenTurn
    ) -> AsyncIterator[tpb.CallFrame]:
        meter = _Meter(decoded)
        async for _ in turn.events(restartable=True):
            meter.first_event()
        accumulator = turn.accumulator
        failed = accumulator.failure is not None or not turn.completed
        headers = _session_headers(turn, failed=failed)
        if failed:
            failure = accumulator.failure or _no_answer()
            for frame in error_frames(surface.dialect, failure, headers):
                yield frame
            yield meter.trailer(turn, failure)
            return
        body = surface.encode(accumulator.result(), decoded, _meta(turn))
        yield head(200, JSON, headers)
        yield data(orjson.dumps(body))
        yield meter.trailer(turn, None)

    async def _count(self, surface: SurfaceSpec, request: tpb.CallRequest) -> list[tpb.CallFrame]:
        """Token counting: no session, no turn; the routed provider counts."""
        assert surface.decode_count is not None and surface.encode_count is not None
        dialect = surface.dialect
        try:
            body = loads_object(request.body)
            parse_continuity(body.pop("rhone", None))
            canonical = surface.decode_count(body, request.params)
            surface.set_home_provider(canonical)
            counted = await self.runner.providers.CountTokens(canonical, timeout=60)
        except RhoneError as exc:
            return error_frames(dialect, exc.failure)
        except grpc.aio.AioRpcError as exc:
            return error_frames(dialect, count_refusal(exc))
        answer = orjson.dumps(surface.encode_count(counted.input_tokens))
        return [head(200, JSON), data(answer)]


class _Meter:
    """What the trailer tells the facade about a generating call: usage, model, provider and
    the time to its first event (the facade meters calls with it)."""

    def __init__(self, decoded: DecodedCall) -> None:
        self.model = decoded.request.model
        self.started = time.monotonic()
        self.ttft_ms = 0

    def first_event(self) -> None:
        if not self.ttft_ms:
            self.ttft_ms = max(1, int((time.monotonic() - self.started) * 1000))

    def trailer(self, turn: OpenTurn, failure: gen.Failure | None) -> tpb.CallFrame:
        response = turn.accumulator.response
        trailer = tpb.CallTrailer(
            session_id=turn.existing_session_id,
            usage=response.usage,
            model=response.model or self.model,
            provider=response.provider,
            ttft_ms=self.ttft_ms,
        )
        if failure is not None:
            trailer.failure.CopyFrom(failure)
        return tpb.CallFrame(trailer=trailer)


def _with_surface_options(
    continuity: Continuity, decoded: DecodedCall, request: tpb.CallRequest
) -> Continuity:
    """Continuity controls a surface has in its own words (OpenAI Responses'
    previous_response_id and store), and the response a socket kept that the call names."""
    previous = check_body_id(
        decoded.options.get("previous_response_id") or "", "previous_response_id", "response id"
    )
    record = bool(decoded.options.get("store", True))
    if not previous and record:
        return continuity
    kept = request.kept_previous
    return dataclasses.replace(
        continuity,
        from_response_id=previous,
        record=record,
        kept=kept if previous and kept.response_id == previous else None,
    )


def _session_headers(turn: OpenTurn, *, failed: bool) -> dict[str, str]:
    """The session a response names, read once the call's first events (a stream) or all of
    them (a whole answer) are in. A first call's session exists once its turn is committed
    (turns.py): a stream names it from its head on; a first call that failed before any head
    names none, since there is none to continue."""
    if not turn.session_id or (failed and turn.creates):
        return {}
    return {"x-rhone-session-id": turn.session_id}


def _meta(turn: OpenTurn) -> dict[str, str]:
    """The `rhone` object a response carries (none for a call that kept nothing)."""
    return {"session_id": turn.session_id} if turn.session_id else {}


def _no_answer() -> gen.Failure:
    return make_failure(
        Code.ERROR_CODE_UNAVAILABLE, "The provider ended the call without an answer."
    )
