"""Relaying one call to the translator and writing the frames it streams back, unchanged.

The first frame is the head (status, content type, headers). A JSON answer is written whole;
a stream is written frame by frame, and one cut off below the facade is ended with the
surface's own error signal (stream_end.py). When the client goes away, Starlette cancels the
body iterator, and cancelling the gRPC call cancels the translator's work and the upstream
call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rhone.dialects.base import Dialect
from rhone.errors import Code, RhoneError, make_failure
from rhone.observability import scope
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc
from services.facade.admission import Admission
from services.facade.answer_shape import answers_whole
from services.facade.stream_end import INTERRUPTED, StreamEnd, stream_end_for

log = logging.getLogger("rhone.facade")


class CallObserver(Protocol):
    """Watches one call go by (the facade's metering: limits, usage records). Never blocks."""

    def on_head(self, head: tpb.CallHead) -> dict[str, str]:
        """Headers to add to the answer."""
        ...

    def on_frame(self, frame: tpb.CallFrame) -> None: ...

    def on_end(self, *, failure: gen.Failure | None = None, cancelled: bool = False) -> None: ...


def error_response(dialect: Dialect, failure: gen.Failure) -> Response:
    scope.note_failure(failure)
    status, body = dialect.encode_error(failure)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class Relay:
    def __init__(
        self,
        translator: translator_pb2_grpc.TranslatorServiceStub,
        max_body_bytes: int,
        admission: Admission,
        call_timeout_s: float,
    ) -> None:
        self.translator = translator
        self.max_body_bytes = max_body_bytes
        self.admission = admission
        self.call_timeout_s = call_timeout_s
        # False once a translator replica answered CallWhole with UNIMPLEMENTED.
        self.whole = True

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _call_whole(self, request: tpb.CallRequest) -> list[tpb.CallFrame] | None:
        """The answer's frames, head first, from CallWhole; None from a translator replica
        older than CallWhole (a rolling upgrade), which is then asked with Call. Raises
        RhoneError when there is no answer."""
        scope.current().tenant = request.tenant_id
        self.admission.enter()
        try:
            call = self.translator.CallWhole(request, timeout=self.call_timeout_s)
            answer = await call
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.whole = False
                log.info("the translator has no CallWhole; using Call")
                return None
            log.warning("translator call failed: %s %s", exc.code(), exc.details())
            raise RhoneError(_unavailable(exc)) from None
        finally:
            self.admission.leave()
        frames = list(answer.frames)
        if not frames or not frames[0].HasField("head"):
            raise RhoneError(make_failure(Code.ERROR_CODE_INTERNAL, "No answer."))
        # What the translator learned (model, provider, usage, error code).
        scope.current().absorb_trailer(await call.trailing_metadata())
        return frames

    async def open(
        self,
        *,
        surface: int,
        method: str,
        tenant_id: str,
        body: bytes,
        params: Mapping[str, str] | None = None,
        transport: int = tpb.TRANSPORT_HTTP,
        kept_previous: tpb.KeptResponse | None = None,
    ) -> OpenedCall:
        """Starts a translator call and reads its head; raises RhoneError when there is none.
        The call holds an admission slot until it ends, however it ends."""
        scope.current().tenant = tenant_id
        self.admission.enter()
        call = self.translator.Call(
            _call_request(surface, method, tenant_id, body, params, transport, kept_previous),
            timeout=self.call_timeout_s,
        )
        call.add_done_callback(lambda _: self.admission.leave())
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            log.warning("translator call failed: %s %s", exc.code(), exc.details())
            raise RhoneError(_unavailable(exc)) from None
        rest: list[tpb.CallFrame] = []
        if first is not grpc.aio.EOF and first.HasField("batch"):
            first, *rest = first.batch.frames
        if first is grpc.aio.EOF or not first.HasField("head"):
            call.cancel()
            raise RhoneError(make_failure(Code.ERROR_CODE_INTERNAL, "No answer."))
        scope.current().absorb_trailer(await call.initial_metadata())
        return OpenedCall(first.head, call, pending=rest)

    async def call(
        self,
        *,
        dialect: Dialect,
        surface: int,
        method: str,
        tenant_id: str,
        body: bytes,
        params: Mapping[str, str] | None = None,
        observer: CallObserver | None = None,
    ) -> Response:
        try:
            if self.whole and answers_whole(method, body):
                request = _call_request(surface, method, tenant_id, body, params)
                frames = await self._call_whole(request)
                if frames is not None:
                    return _whole_response(frames, observer)
            opened = await self.open(
                surface=surface, method=method, tenant_id=tenant_id, body=body, params=params
            )
        except RhoneError as exc:
            if observer is not None:
                observer.on_end(failure=exc.failure)
            return error_response(dialect, exc.failure)
        opened.observer = observer
        frame_head = opened.head
        headers = dict(frame_head.headers)
        if observer is not None:
            headers.update(observer.on_head(frame_head))
        if not frame_head.stream:
            try:
                whole = await opened.body()
            except RhoneError as exc:
                if observer is not None:
                    observer.on_end(failure=exc.failure)
                return error_response(dialect, exc.failure)
            if observer is not None:
                observer.on_end()
            return Response(
                whole,
                status_code=frame_head.status,
                media_type=frame_head.content_type,
                headers=headers,
            )
        return StreamingResponse(
            _stream_body(opened, stream_end_for(surface, dialect, frame_head.content_type)),
            status_code=frame_head.status,
            media_type=frame_head.content_type,
            headers=headers,
        )


def _call_request(
    surface: int,
    method: str,
    tenant_id: str,
    body: bytes,
    params: Mapping[str, str] | None,
    transport: int = tpb.TRANSPORT_HTTP,
    kept_previous: tpb.KeptResponse | None = None,
) -> tpb.CallRequest:
    return tpb.CallRequest(
        surface=surface,  # type: ignore[arg-type]
        method=method,
        transport=transport,  # type: ignore[arg-type]
        params=dict(params or {}),
        tenant_id=tenant_id,
        body=body,
        kept_previous=kept_previous,
        batches=True,
    )


def _whole_response(frames: list[tpb.CallFrame], observer: CallObserver | None) -> Response:
    """A CallWhole answer as the HTTP response, observed as Call's frames are. A stream that
    came whole (answer_shape.py) is written as one body, with its own head."""
    head, rest = frames[0].head, frames[1:]
    headers = dict(head.headers)
    if observer is not None:
        headers.update(observer.on_head(head))
        for frame in rest:
            observer.on_frame(frame)
        observer.on_end()
    return Response(
        b"".join([frame.data for frame in rest if frame.HasField("data")]),
        status_code=head.status,
        media_type=head.content_type,
        headers=headers,
    )


@dataclass(slots=True)
class OpenedCall:
    head: tpb.CallHead
    call: grpc.aio.UnaryStreamCall
    observer: CallObserver | None = None
    # Frames that came in the head's batch, not yet read.
    pending: list[tpb.CallFrame] = field(default_factory=list)

    def frames(self) -> AsyncIterator[tpb.CallFrame]:
        return _frames(self.call, self.observer, self.pending)

    async def body(self) -> bytes:
        """The whole body of a call that does not stream; RhoneError when it breaks off."""
        try:
            return b"".join([frame.data async for frame in self.frames() if frame.HasField("data")])
        except grpc.aio.AioRpcError as exc:
            log.warning("answer from translator broke: %s %s", exc.code(), exc.details())
            raise RhoneError(INTERRUPTED) from None

    def cancel(self) -> None:
        self.call.cancel()


async def _frames(
    call: grpc.aio.UnaryStreamCall,
    observer: CallObserver | None = None,
    pending: list[tpb.CallFrame] | None = None,
) -> AsyncIterator[tpb.CallFrame]:
    """The frames after the head, batches unpacked."""
    async for batch in _batches(call, observer, pending):
        for frame in batch:
            yield frame


async def _batches(
    call: grpc.aio.UnaryStreamCall,
    observer: CallObserver | None = None,
    pending: list[tpb.CallFrame] | None = None,
) -> AsyncIterator[Sequence[tpb.CallFrame]]:
    """The frames after the head, as they came: one message's frames at a time (read() and
    iteration cannot be mixed on one call)."""
    if pending:
        for frame in pending:
            if observer is not None:
                observer.on_frame(frame)
        yield pending
    while (message := await call.read()) is not grpc.aio.EOF:
        batch = message.batch.frames if message.HasField("batch") else (message,)
        if observer is not None:
            for frame in batch:
                observer.on_frame(frame)
        yield batch
    # What the translator learned (model, provider, usage, error code), for metrics and logs.
    scope.current().absorb_trailer(await call.trailing_metadata())


async def _stream_body(opened: OpenedCall, end: StreamEnd) -> AsyncIterator[bytes]:
    """The stream's bytes, one write per message from the translator; a stream that ends
    without the translator's trailer was cut off, and gets the surface's error signal as its
    last event. A client that goes away closes this generator at a yield: the call is
    cancelled, and observed as cancelled.

    The bytes that come with and after the translator's trailer (the stream's closing bytes,
    `[DONE]`) are written once the translator's side is over, as the stream's last write: an
    SDK hangs up the moment it has read them, and a hang-up noticed while this generator still
    waited for the end of the gRPC call would count a whole answer as cancelled."""
    call, observer = opened.call, opened.observer
    ended = False  # the translator's trailer arrived
    finished = False  # the translator's side is over (not the client going away)
    tail: list[bytes] = []  # what came with and after the trailer
    try:
        async for batch in _batches(call, observer, opened.pending):
            data = b"".join([frame.data for frame in batch if frame.HasField("data")])
            ended = ended or any(frame.HasField("trailer") for frame in batch)
            if data:
                end.observe(data)
                if ended:
                    tail.append(data)
                else:
                    yield data
        finished = True
    except grpc.aio.AioRpcError as exc:
        finished = True
        log.warning("stream from translator broke: %s %s", exc.code(), exc.details())
    finally:
        call.cancel()
        if observer is not None:
            observer.on_end(
                failure=None if ended or not finished else INTERRUPTED, cancelled=not finished
            )
    if tail:
        yield b"".join(tail)
    if not ended:
        log.warning("stream from translator ended without its trailer")
        if closing := end.closing(INTERRUPTED):
            yield closing


def _too_large(limit: int) -> RhoneError:
    return RhoneError.of(
        Code.ERROR_CODE_REQUEST_TOO_LARGE,
        f"The request body is larger than the limit of {limit} bytes.",
        detail="request_too_large",
    )


def _unavailable(exc: grpc.aio.AioRpcError) -> gen.Failure:
    if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        return make_failure(Code.ERROR_CODE_TIMEOUT, "The call did not finish within its deadline.")
    # RESOURCE_EXHAUSTED: the translator replica is at its concurrent-call limit.
    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        return make_failure(Code.ERROR_CODE_UNAVAILABLE, "The translator service is unavailable.")
    return make_failure(Code.ERROR_CODE_INTERNAL, "The call failed inside Rhone.")
