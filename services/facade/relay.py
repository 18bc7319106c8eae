"""Relaying one call to the translator and writing the frames it streams back, unchanged.

The first frame is the head (status, content type, headers). A JSON answer is written whole;
a stream is written frame by frame. When the client goes away, Starlette cancels the body
iterator, and cancelling the gRPC call cancels the translator's work and the upstream call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import grpc
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rhone.dialects.base import Dialect
from rhone.errors import Code, RhoneError, make_failure
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from rhone.v1 import translator_pb2_grpc
from services.facade.admission import Admission

log = logging.getLogger("rhone.facade")


def error_response(dialect: Dialect, failure: gen.Failure) -> Response:
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

    async def read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body_bytes:
                raise _too_large(self.max_body_bytes)
        return body

    async def open(
        self,
        *,
        surface: int,
        method: str,
        tenant_id: str,
        body: bytes,
        params: Mapping[str, str] | None = None,
        framing: int = tpb.FRAMING_HTTP,
    ) -> OpenedCall:
        """Starts a translator call and reads its head; raises RhoneError when there is none.
        The call holds an admission slot until it ends, however it ends."""
        self.admission.enter()
        call = self.translator.Call(
            tpb.CallRequest(
                surface=surface,  # type: ignore[arg-type]
                method=method,
                framing=framing,  # type: ignore[arg-type]
                params=dict(params or {}),
                tenant_id=tenant_id,
                body=body,
            ),
            timeout=self.call_timeout_s,
        )
        call.add_done_callback(lambda _: self.admission.leave())
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            log.warning("translator call failed: %s %s", exc.code(), exc.details())
            raise RhoneError(_unavailable(exc)) from None
        if first is grpc.aio.EOF or not first.HasField("head"):
            call.cancel()
            raise RhoneError(make_failure(Code.ERROR_CODE_INTERNAL, "No answer."))
        return OpenedCall(first.head, call)

    async def call(
        self,
        *,
        dialect: Dialect,
        surface: int,
        method: str,
        tenant_id: str,
        body: bytes,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        try:
            opened = await self.open(
                surface=surface, method=method, tenant_id=tenant_id, body=body, params=params
            )
        except RhoneError as exc:
            return error_response(dialect, exc.failure)
        frame_head = opened.head
        headers = dict(frame_head.headers)
        if not frame_head.stream:
            return Response(
                await opened.body(),
                status_code=frame_head.status,
                media_type=frame_head.content_type,
                headers=headers,
            )
        return StreamingResponse(
            _stream_body(opened.call),
            status_code=frame_head.status,
            media_type=frame_head.content_type,
            headers=headers,
        )


@dataclass(slots=True)
class OpenedCall:
    head: tpb.CallHead
    call: grpc.aio.UnaryStreamCall

    def frames(self) -> AsyncIterator[tpb.CallFrame]:
        return _frames(self.call)

    async def body(self) -> bytes:
        """The whole body of a call that does not stream."""
        return b"".join(
            [frame.data async for frame in _frames(self.call) if frame.HasField("data")]
        )

    def cancel(self) -> None:
        self.call.cancel()


async def _frames(call: grpc.aio.UnaryStreamCall) -> AsyncIterator[tpb.CallFrame]:
    """The frames after the head (read() and iteration cannot be mixed on one call)."""
    while (frame := await call.read()) is not grpc.aio.EOF:
        yield frame


async def _stream_body(call: grpc.aio.UnaryStreamCall) -> AsyncIterator[bytes]:
    try:
        async for frame in _frames(call):
            if frame.HasField("data"):
                yield frame.data
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            log.warning("stream from translator broke: %s %s", exc.code(), exc.details())
    finally:
        call.cancel()


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
