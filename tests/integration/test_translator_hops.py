"""The translator's hops to the providers service, with real gRPC servers and stand-in sessions
and providers services that record what they are asked: a call's deadline reaches the providers
(what is left of the one the translator's caller set; the facade sets RHONE_CALL_TIMEOUT_S), and
a whole answer starts over when its providers replica is lost midway, where a stream cannot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from rhone import canonical as ev
from rhone.launcher import free_port
from rhone.runtime.channels import open_channel
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc, sessions_pb2_grpc, translator_pb2_grpc
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import translator_pb2 as tpb
from services.translator.compaction.compactor import Compactor
from services.translator.compaction.sealing import CompactionSeal
from services.translator.servicer import TranslatorServicer
from services.translator.turns import TurnRunner


class Sessions(sessions_pb2_grpc.SessionServiceServicer):
    async def BeginTurn(
        self, request: spb.BeginTurnRequest, context: grpc.aio.ServicerContext
    ) -> spb.BeginTurnResponse:
        return spb.BeginTurnResponse(session=spb.Session(id="sess_1"), lease_id="lease_1")

    async def CommitTurn(
        self, request: spb.CommitTurnRequest, context: grpc.aio.ServicerContext
    ) -> spb.CommitTurnResponse:
        return spb.CommitTurnResponse(turn=request.turn)

    async def AbortTurn(
        self, request: spb.AbortTurnRequest, context: grpc.aio.ServicerContext
    ) -> spb.AbortTurnResponse:
        return spb.AbortTurnResponse()


class Providers(providers_pb2_grpc.ProviderServiceServicer):
    def __init__(self) -> None:
        self.remaining: list[float | None] = []

    async def Generate(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvent]:
        self.remaining.append(context.time_remaining())
        yield ev.started("r1", request.model, "stand-in")
        yield ev.finished(gen.FINISH_REASON_STOP)


@pytest.fixture(autouse=True)
def _service_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channels these in-process servers are called through prove an identity, as every
    Rhone channel must (rhone/runtime/service_identity.py)."""
    monkeypatch.setenv("RHONE_SERVICE_TOKEN", "test-service-token")


@pytest.fixture
async def translator() -> AsyncIterator[
    tuple[translator_pb2_grpc.TranslatorServiceStub, Providers]
]:
    providers = Providers()
    backends = grpc.aio.server()
    sessions_pb2_grpc.add_SessionServiceServicer_to_server(Sessions(), backends)
    providers_pb2_grpc.add_ProviderServiceServicer_to_server(providers, backends)
    backend = f"127.0.0.1:{free_port()}"
    backends.add_insecure_port(backend)
    await backends.start()
    backend_channel = open_channel(backend)
    runner = TurnRunner(
        sessions_pb2_grpc.SessionServiceStub(backend_channel),
        providers_pb2_grpc.ProviderServiceStub(backend_channel),
        60_000,
    )
    compactor = Compactor(
        providers_pb2_grpc.ProviderServiceStub(backend_channel),
        CompactionSeal.from_setting(""),
        "",
    )
    server = grpc.aio.server()
    translator_pb2_grpc.add_TranslatorServiceServicer_to_server(
        TranslatorServicer(runner, compactor), server
    )
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    channel = open_channel(address)
    try:
        yield translator_pb2_grpc.TranslatorServiceStub(channel), providers
    finally:
        await channel.close()
        await server.stop(None)
        await backend_channel.close()
        await backends.stop(None)


def call(body: bytes) -> tpb.CallRequest:
    return tpb.CallRequest(
        surface=tpb.SURFACE_OPENAI_CHAT, method="create", tenant_id="t", body=body
    )


BODY = b'{"model":"local","messages":[{"role":"user","content":"hi"}]}'


async def test_the_providers_call_ends_no_later_than_the_translators(translator):  # type: ignore[no-untyped-def]
    stub, providers = translator
    frames = [frame async for frame in stub.Call(call(BODY), timeout=7)]
    assert frames[0].head.status == 200
    (remaining,) = providers.remaining
    assert remaining is not None and 6 < remaining <= 7


async def test_without_a_deadline_none_is_invented(translator):  # type: ignore[no-untyped-def]
    stub, providers = translator
    frames = [frame async for frame in stub.Call(call(BODY))]
    assert frames[0].head.status == 200
    assert providers.remaining == [None]


class Breaking(providers_pb2_grpc.ProviderServiceServicer):
    """A providers replica that is lost after its first event."""

    def __init__(self) -> None:
        self.calls = 0

    async def Generate(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvent]:
        self.calls += 1
        yield ev.started("lost", request.model, "stand-in")
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the pod is gone")


class Answering(providers_pb2_grpc.ProviderServiceServicer):
    async def Generate(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvent]:
        yield ev.started("kept", request.model, "stand-in")
        yield ev.part_started(0, gen.PART_KIND_TEXT)
        yield ev.text_delta(0, "the whole answer")
        yield ev.part_finished(0)
        yield ev.finished(gen.FINISH_REASON_STOP)


async def test_a_whole_answer_starts_over_when_its_providers_replica_is_lost_midway():
    port = free_port()
    breaking = Breaking()
    servers = []
    for address, servicer in (("127.0.0.2", breaking), ("127.0.0.3", Answering())):
        server = grpc.aio.server()
        providers_pb2_grpc.add_ProviderServiceServicer_to_server(servicer, server)
        sessions_pb2_grpc.add_SessionServiceServicer_to_server(Sessions(), server)
        server.add_insecure_port(f"{address}:{port}")
        await server.start()
        servers.append(server)
    channel = open_channel(f"ipv4:127.0.0.2:{port},127.0.0.3:{port}")
    # The sessions service on a channel of its own: round_robin then takes turns between the
    # providers replicas call by call, whatever number of session calls a call makes.
    sessions_channel = open_channel(f"ipv4:127.0.0.3:{port}")
    runner = TurnRunner(
        sessions_pb2_grpc.SessionServiceStub(sessions_channel),
        providers_pb2_grpc.ProviderServiceStub(channel),
        60_000,
    )
    servicer = TranslatorServicer(
        runner,
        Compactor(
            providers_pb2_grpc.ProviderServiceStub(channel), CompactionSeal.from_setting(""), ""
        ),
    )
    try:
        whole = [await frames_of(servicer, BODY) for _ in range(4)]
        streamed = [
            await frames_of(servicer, BODY.replace(b'"model"', b'"stream":true,"model"'))
            for _ in range(4)
        ]
    finally:
        await channel.close()
        await sessions_channel.close()
        for server in servers:
            await server.stop(None)
    assert breaking.calls >= 2, "round_robin never picked the breaking replica"
    for frames in whole:
        assert frames[0].head.status == 200
        assert b"the whole answer" in frames[1].data
    # A stream cannot start over: what the client saw stays; the failure ends it.
    cut = [f for f in streamed if _trailer(f).HasField("failure")]
    assert cut and all(f[0].head.stream for f in cut)


async def frames_of(servicer: TranslatorServicer, body: bytes) -> list[tpb.CallFrame]:
    return [frame async for frame in servicer.calls.call(call(body))]


def _trailer(frames: list[tpb.CallFrame]) -> tpb.CallTrailer:
    """The call's trailer (a stream's closing bytes may follow it)."""
    (trailer,) = [frame.trailer for frame in frames if frame.HasField("trailer")]
    return trailer
