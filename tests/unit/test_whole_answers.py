"""A whole answer takes one unary call on each internal hop: the facade asks the translator's
CallWhole (services/facade/relay.py, answer_shape.py), the translator the providers'
GenerateWhole (services/translator/turns.py). Replicas older than either (a rolling upgrade)
are asked the streamed way instead, and the client reads the same answer."""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from rhone.dialects.openai_chat import DIALECT
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb
from services.facade.admission import Admission
from services.facade.answer_shape import PEEK_LIMIT, answers_whole
from services.facade.relay import Relay
from services.translator.continuity import Continuity
from services.translator.turns import TurnRunner
from tests.unit.test_context_fit import StubCall, StubProviders, StubSessions, text


def _unimplemented() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNIMPLEMENTED, grpc.aio.Metadata(), grpc.aio.Metadata(), "Method not found!"
    )


class StubUnary:
    """A unary call as gRPC gives one: awaitable, with its trailing metadata."""

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error

    def __await__(self) -> Any:
        return self._answer().__await__()

    async def _answer(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.answer

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(("rhone-model", "m"))

    def cancel(self) -> None:
        pass


class WholeProviders(StubProviders):
    """Answers GenerateWhole with every event in one message (or refuses it, as a replica
    from before it does); counts the calls of each method."""

    def __init__(self, *, has_whole: bool = True) -> None:
        super().__init__(10_000)
        self.has_whole = has_whole
        self.asked: list[str] = []

    def GenerateWhole(self, request: gen.GenerateRequest, **options: Any) -> StubUnary:
        self.asked.append("GenerateWhole")
        if not self.has_whole:
            return StubUnary(error=_unimplemented())
        events = self.Generate(request, **options).events
        return StubUnary(gen.GenerationEvents(events=events))

    def GenerateBatches(self, request: gen.GenerateRequest, **options: Any) -> StubCall:
        self.asked.append("GenerateBatches")
        return super().GenerateBatches(request, **options)


async def _answer(turns: TurnRunner, *, whole: bool) -> str:
    request = gen.GenerateRequest(model="m", messages=[text(content.ROLE_USER, "hi")], whole=whole)
    turn = await turns.open("t", request, Continuity(session_id="sess_1"))
    async for _ in turn.events(restartable=whole):
        pass
    assert turn.completed
    return turn.accumulator.result().message.parts[0].text.text


async def test_a_whole_answer_is_one_unary_call_and_a_stream_stays_a_stream():
    providers = WholeProviders()
    turns = TurnRunner(StubSessions(), providers, 60_000)  # type: ignore[arg-type]
    assert await _answer(turns, whole=True) == "ok"
    assert await _answer(turns, whole=False) == "ok"
    assert providers.asked == ["GenerateWhole", "GenerateBatches"]


async def test_a_providers_replica_without_generate_whole_is_asked_for_a_stream():
    providers = WholeProviders(has_whole=False)
    turns = TurnRunner(StubSessions(), providers, 60_000)  # type: ignore[arg-type]
    assert [await _answer(turns, whole=True) for _ in range(2)] == ["ok", "ok"]
    # Asked once; every later whole answer goes straight to the stream.
    assert providers.asked == ["GenerateWhole", "GenerateBatches", "GenerateBatches"]


def test_what_the_facade_sends_whole():
    assert answers_whole("create", b'{"model":"m","messages":[]}')
    assert answers_whole("create", b'{"model":"m","stream":false}')
    assert answers_whole("create", b'{"model":"m","stream":null}')
    # "stream" in a message's text is not the field.
    assert answers_whole("create", b'{"messages":[{"role":"user","content":"a \\"stream\\""}]}')
    assert answers_whole("generateContent", b'{"contents":[]}')
    assert answers_whole("create", b"not json")  # refused, whole
    assert not answers_whole("create", b'{"model":"m","stream":true}')
    assert not answers_whole("create", b'{"model":"m","\\u0073tream":true}')
    assert not answers_whole("streamGenerateContent", b'{"contents":[]}')
    # A large body that names `stream` is not parsed twice: streamed, as before.
    large = b'{"stream":false,"messages":[{"role":"user","content":"' + b"x" * PEEK_LIMIT + b'"}]}'
    assert not answers_whole("create", large)
    assert answers_whole("create", large.replace(b'"stream":false,', b""))


class OlderTranslator:
    """A translator replica from before CallWhole: Call answers with a head and a body."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def CallWhole(self, request: tpb.CallRequest, **_: Any) -> StubUnary:
        self.asked.append("CallWhole")
        return StubUnary(error=_unimplemented())

    def Call(self, request: tpb.CallRequest, **_: Any) -> StreamedCall:
        self.asked.append("Call")
        head = tpb.CallFrame(head=tpb.CallHead(status=200, content_type="application/json"))
        body = tpb.CallFrame(data=orjson.dumps({"echo": orjson.loads(request.body)["model"]}))
        return StreamedCall([tpb.CallFrame(batch=tpb.CallFrames(frames=[head, body]))])


class StreamedCall:
    """A server-streaming call as the facade reads one."""

    def __init__(self, messages: list[tpb.CallFrame]) -> None:
        self.messages = messages

    def add_done_callback(self, callback: Any) -> None:
        self.done = callback

    async def read(self) -> Any:
        if self.messages:
            return self.messages.pop(0)
        self.done(self)
        return grpc.aio.EOF

    async def initial_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata()

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata()

    def cancel(self) -> None:
        pass


async def test_a_translator_replica_without_call_whole_is_asked_with_call():
    translator = OlderTranslator()
    admission = Admission(max_calls=8)
    relay = Relay(translator, 1 << 20, admission, 30)  # type: ignore[arg-type]

    async def call(model: str) -> Any:
        return await relay.call(
            dialect=DIALECT,
            surface=tpb.SURFACE_OPENAI_CHAT,
            method="create",
            tenant_id="t",
            body=orjson.dumps({"model": model}),
        )

    first, second = await call("a"), await call("b")
    assert (first.status_code, orjson.loads(first.body)) == (200, {"echo": "a"})
    assert (second.status_code, orjson.loads(second.body)) == (200, {"echo": "b"})
    assert translator.asked == ["CallWhole", "Call", "Call"]
    assert admission.in_flight == 0
