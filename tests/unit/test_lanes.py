"""Lanes (rhone/runtime/lane_server.py, rhone/runtime/lane_client.py): calls between Rhone's
services carried one at a time on long-lived streams keep what a call of their own has: the
answer, streamed messages, initial and trailing metadata, status codes, the caller's metadata
and deadline, cancellation, the guards, the drain, and a server without lanes. Real gRPC on
loopback, the providers service's stubs, a servicer that does what its request's model says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from rhone.launcher import free_port
from rhone.observability import scope
from rhone.observability.grpc_hooks import ObservedServer, PropagatingChannel
from rhone.runtime import lane_client
from rhone.runtime.channels import CALL_POLICIES, CHANNEL_OPTIONS
from rhone.runtime.handler_guards import Guard
from rhone.runtime.lane_client import Lanes
from rhone.runtime.lane_server import LaneServer
from rhone.runtime.service_identity import SERVICE_TOKEN_KEY, RequireServiceToken
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import lanes_pb2, providers_pb2_grpc

TOKEN = "lane-test-token"


def text(value: str) -> gen.GenerationEvent:
    return gen.GenerationEvent(part_delta=gen.PartDelta(index=0, text=value))


class Servicer(providers_pb2_grpc.ProviderServiceServicer):
    """What each call's model asks: echo, stream, abort, sleep."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.remaining: list[float | None] = []
        self.request_ids: list[str] = []
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()

    def _note(self, context: grpc.aio.ServicerContext) -> None:
        self.seen.append(dict(context.invocation_metadata() or ()))
        self.remaining.append(context.time_remaining())
        self.request_ids.append(scope.current().request_id)

    async def GenerateWhole(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> gen.GenerationEvents:
        self._note(context)
        if request.model == "abort":
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "no such thing",
                trailing_metadata=(("rhone-error-detail", "thing_missing"),),
            )
        if request.model == "sleep":
            self.started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if request.model == "raise":
            raise ValueError("broken")
        context.set_trailing_metadata((("x-told", request.model),))
        return gen.GenerationEvents(events=[text(request.model)])

    async def GenerateBatches(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvents]:
        self._note(context)
        await context.send_initial_metadata((("x-started", "yes"),))
        for index in range(3):
            yield gen.GenerationEvents(events=[text(f"{request.model}-{index}")])
            if request.model == "hang":
                self.started.set()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    self.cancelled.set()
                    raise
        context.set_trailing_metadata((("x-ended", "yes"),))


def lanes_open() -> float:
    return REGISTRY.get_sample_value("rhone_grpc_server_lanes", {"service": "test"}) or 0.0


class Opens:
    """Counts the lanes a server was asked to open."""

    def __init__(self, lanes: LaneServer) -> None:
        self.count = 0
        original = lanes.Open

        async def counted(iterator, context):  # type: ignore[no-untyped-def]
            self.count += 1
            await original(iterator, context)

        lanes.Open = counted  # type: ignore[method-assign]


class Cluster:
    def __init__(self) -> None:
        self.servicer = Servicer()
        self.lanes = LaneServer("test", TOKEN)
        self.opens = Opens(self.lanes)
        self.server = grpc.aio.server()
        self.address = f"127.0.0.1:{free_port()}"

    async def start(self, *, lanes: bool = True) -> None:
        guards: list[Guard] = [RequireServiceToken(TOKEN)]
        observed = ObservedServer(self.server, "test", guards, self.lanes if lanes else None)
        providers_pb2_grpc.add_ProviderServiceServicer_to_server(self.servicer, observed)  # type: ignore[arg-type]
        if lanes:
            self.lanes.register(self.server)
        self.server.add_insecure_port(self.address)
        await self.server.start()


def client(address: str, token: str = TOKEN) -> tuple[PropagatingChannel, Lanes]:
    raw = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    metadata = ((SERVICE_TOKEN_KEY, token),)
    lanes = Lanes(raw, metadata, CALL_POLICIES)
    return PropagatingChannel(raw, metadata, lanes, CALL_POLICIES), lanes


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    running = Cluster()
    await running.start()
    yield running
    await running.server.stop(None)


@pytest.fixture
async def stub(
    cluster: Cluster,
) -> AsyncIterator[tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]]:
    channel, lanes = client(cluster.address)
    yield providers_pb2_grpc.ProviderServiceStub(channel), lanes
    await channel.close()


async def test_calls_one_after_another_share_one_lane_and_keep_their_metadata(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, lanes = stub
    for index in range(5):
        scope.enter(scope.CallScope(request_id=f"req-{index}"))
        call = providers.GenerateWhole(gen.GenerateRequest(model=f"m{index}"), timeout=20)
        answer = await call
        assert answer.events[0].part_delta.text == f"m{index}"
        assert ("x-told", f"m{index}") in list(await call.trailing_metadata())
        assert await call.code() == grpc.StatusCode.OK
    assert cluster.opens.count == 1
    assert lanes.idle() == 1
    # Each call's own ids, token and deadline reached the handler, in a scope of its own.
    assert cluster.servicer.request_ids == [f"req-{index}" for index in range(5)]
    assert all(seen[SERVICE_TOKEN_KEY] == TOKEN for seen in cluster.servicer.seen)
    assert all(r is not None and 18 < r <= 20 for r in cluster.servicer.remaining)


async def test_calls_at_once_take_lanes_of_their_own(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, lanes = stub
    open_before = lanes_open()
    answers = await asyncio.gather(
        *(providers.GenerateWhole(gen.GenerateRequest(model=f"m{i}")) for i in range(8))
    )
    assert [a.events[0].part_delta.text for a in answers] == [f"m{i}" for i in range(8)]
    assert cluster.opens.count == 8
    assert lanes.idle() == 8
    assert lanes_open() == open_before + 8  # what an operator sees of them
    await asyncio.gather(
        *(providers.GenerateWhole(gen.GenerateRequest(model=f"m{i}")) for i in range(8))
    )
    assert cluster.opens.count == 8  # the idle ones were taken again


async def test_a_stream_on_a_lane_has_its_messages_and_both_metadata(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, _ = stub
    call = providers.GenerateBatches(gen.GenerateRequest(model="s"))
    first = await call.read()
    assert first.events[0].part_delta.text == "s-0"
    assert ("x-started", "yes") in list(await call.initial_metadata())
    rest = [m.events[0].part_delta.text async for m in call]
    assert rest == ["s-1", "s-2"]
    assert ("x-ended", "yes") in list(await call.trailing_metadata())
    assert await call.read() is grpc.aio.EOF
    # Read by iteration alone, and again on the same lane.
    again = [
        m.events[0].part_delta.text
        async for m in providers.GenerateBatches(gen.GenerateRequest(model="t"))
    ]
    assert again == ["t-0", "t-1", "t-2"]
    assert cluster.opens.count == 1


async def test_an_abort_reaches_the_caller_with_its_code_details_and_trailer(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, lanes = stub
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await providers.GenerateWhole(gen.GenerateRequest(model="abort"))
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == "no such thing"
    assert ("rhone-error-detail", "thing_missing") in list(raised.value.trailing_metadata())
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await providers.GenerateWhole(gen.GenerateRequest(model="raise"))
    assert failed.value.code() == grpc.StatusCode.UNKNOWN
    # The lane carried both and carries the next call.
    assert (await providers.GenerateWhole(gen.GenerateRequest(model="ok"))).events
    assert cluster.opens.count == 1 and lanes.idle() == 1


async def test_a_deadline_ends_the_call_and_cancels_its_handler(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, _ = stub
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await providers.GenerateWhole(gen.GenerateRequest(model="sleep"), timeout=0.3)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(cluster.servicer.cancelled.wait(), 5)
    assert (await providers.GenerateWhole(gen.GenerateRequest(model="after"))).events


async def test_cancelling_the_caller_cancels_the_handler(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, _ = stub

    async def read_all() -> None:
        async for _ in providers.GenerateBatches(gen.GenerateRequest(model="hang")):
            pass

    reading = asyncio.ensure_future(read_all())
    await asyncio.wait_for(cluster.servicer.started.wait(), 5)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await asyncio.wait_for(cluster.servicer.cancelled.wait(), 5)
    # A call cancelled with cancel() ends as CANCELLED too.
    call = providers.GenerateBatches(gen.GenerateRequest(model="s"))
    await call.read()
    assert call.cancel()
    assert call.cancelled() and await call.code() == grpc.StatusCode.CANCELLED


async def test_the_service_token_is_required_of_calls_on_lanes(cluster: Cluster) -> None:
    channel, _ = client(cluster.address, token="wrong")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await providers_pb2_grpc.ProviderServiceStub(channel).GenerateWhole(
                gen.GenerateRequest(model="x")
            )
    finally:
        await channel.close()
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert cluster.servicer.seen == []


async def test_calls_to_a_server_without_lanes_are_calls() -> None:
    old = Cluster()
    await old.start(lanes=False)
    channel, lanes = client(old.address)
    try:
        providers = providers_pb2_grpc.ProviderServiceStub(channel)
        assert (await providers.GenerateWhole(gen.GenerateRequest(model="a"))).events
        streamed = [m async for m in providers.GenerateBatches(gen.GenerateRequest(model="b"))]
        assert len(streamed) == 3
        assert not lanes.carries("/rhone.v1.ProviderService/GenerateWhole")
    finally:
        await channel.close()
        await old.server.stop(None)
    assert old.opens.count == 0 and len(old.servicer.seen) == 2


async def test_lanes_past_their_age_are_closed(
    cluster: Cluster,
    stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lane_client, "LANE_MAX_AGE_S", 0.0)
    providers, lanes = stub
    for _ in range(3):
        await providers.GenerateWhole(gen.GenerateRequest(model="x"))
    assert cluster.opens.count == 3
    assert lanes.idle() == 0


async def test_a_drain_ends_idle_lanes_and_lets_calls_in_flight_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draining, other = Cluster(), Cluster()
    port = free_port()
    draining.address, other.address = f"127.0.0.2:{port}", f"127.0.0.3:{port}"
    await draining.start()
    await other.start()
    channel, _ = client(f"ipv4:127.0.0.2:{port},127.0.0.3:{port}")
    providers = providers_pb2_grpc.ProviderServiceStub(channel)
    try:
        # Lanes on both replicas: each call on a new lane until round_robin has put lanes on
        # both (it picks among the replicas it is connected to), then six idle lanes.
        monkeypatch.setattr(lane_client, "LANE_MAX_AGE_S", 0.0)
        for _ in range(100):
            await providers.GenerateWhole(gen.GenerateRequest(model="x"))
            if draining.opens.count and other.opens.count:
                break
            await asyncio.sleep(0.02)
        monkeypatch.undo()
        await asyncio.gather(
            *(providers.GenerateWhole(gen.GenerateRequest(model="x")) for _ in range(6))
        )
        assert draining.opens.count and other.opens.count
        in_flight = providers.GenerateBatches(gen.GenerateRequest(model="s"))
        first = await in_flight.read()
        draining.lanes.drain()
        stopped = asyncio.ensure_future(draining.server.stop(10))
        rest = [m async for m in in_flight]
        assert first.events and len(rest) == 2
        # The idle lanes ended at once, so the server stops without waiting out its grace.
        await asyncio.wait_for(stopped, 5)
        before = len(other.servicer.seen)
        answers = await asyncio.gather(
            *(providers.GenerateWhole(gen.GenerateRequest(model="y")) for _ in range(6))
        )
        assert all(answer.events for answer in answers)
        assert len(other.servicer.seen) == before + 6
    finally:
        await channel.close()
        await other.server.stop(None)


async def test_a_call_in_flight_when_its_server_drains_finishes(
    cluster: Cluster, stub: tuple[providers_pb2_grpc.ProviderServiceStub, Lanes]
) -> None:
    providers, _ = stub
    call = providers.GenerateBatches(gen.GenerateRequest(model="s"))
    assert (await call.read()).events
    cluster.lanes.drain()
    stopped = asyncio.ensure_future(cluster.server.stop(10))
    rest = [m.events[0].part_delta.text async for m in call]
    assert rest == ["s-1", "s-2"]
    assert await call.code() == grpc.StatusCode.OK
    await asyncio.wait_for(stopped, 5)


async def test_every_call_to_a_server_without_lanes_is_answered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each call tries a lane first (no pause after a refusal): however the refusal and the
    call's first write meet, the call goes as a call of its own."""
    monkeypatch.setattr(lane_client, "PLAIN_FOR_S", 0.0)
    old = Cluster()
    await old.start(lanes=False)
    channel, _ = client(old.address)
    try:
        providers = providers_pb2_grpc.ProviderServiceStub(channel)
        for index in range(30):
            if index % 3 == 1:
                await asyncio.sleep(0.005)
            answers = await asyncio.gather(
                *(providers.GenerateWhole(gen.GenerateRequest(model=f"m{i}")) for i in range(3))
            )
            assert [a.events[0].part_delta.text for a in answers] == ["m0", "m1", "m2"]
    finally:
        await channel.close()
        await old.server.stop(None)
    assert len(old.servicer.seen) == 90


@settings(max_examples=200, deadline=None)
@given(
    method=st.text(max_size=80),
    metadata=st.lists(st.text(max_size=40), max_size=6),
    timeout_s=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    size=st.sampled_from([0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]),
)
def test_a_lanes_request_bytes_are_the_open_request_they_stand_for(
    method: str, metadata: list[str], timeout_s: float, size: int
) -> None:
    request = bytes(range(256)) * (size // 256) + bytes(size % 256)
    wire = lane_client.opening_bytes(method, metadata, timeout_s, request)
    parsed = lanes_pb2.OpenRequest.FromString(wire)
    assert parsed == lanes_pb2.OpenRequest(
        method=method, metadata=metadata, timeout_s=timeout_s, request=request
    )
