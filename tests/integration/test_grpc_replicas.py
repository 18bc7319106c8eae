"""The channel and server options every service uses, between real gRPC servers on their own
loopback addresses behind one target (as the pods behind a headless Service):

- a call that fails UNAVAILABLE before its first message (a pod refusing it while it drains,
  or gone) is retried on another replica, invisibly;
- once a message has arrived, the failure is the caller's: nothing is sent twice;
- a server over its concurrent-call bound refuses at once (RESOURCE_EXHAUSTED) but still
  answers health checks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from rhone import canonical as ev
from rhone.launcher import free_port
from rhone.observability.grpc_hooks import ObservedServer
from rhone.runtime.call_limit import CallLimiter
from rhone.runtime.channels import open_channel
from rhone.runtime.grpc_server import server_options
from rhone.runtime.settings import ServingSettings
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc as pb_grpc


class Replica(pb_grpc.ProviderServiceServicer):
    """`mode`: answer ("ok"), refuse before the first event ("refuse"), fail after it
    ("break"), or wait until released ("hold")."""

    def __init__(self, name: str, mode: str = "ok") -> None:
        self.name, self.mode, self.calls = name, mode, 0
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def Generate(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvent]:
        self.calls += 1
        if self.mode == "refuse":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        if self.mode == "hold":
            self.holding.set()
            await self.release.wait()
        yield ev.started(self.name, "m", "p")
        if self.mode == "break":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "gone mid-stream")
        yield ev.finished(gen.FINISH_REASON_STOP)


async def start(address: str, replica: Replica, limit: int = 1000) -> grpc.aio.Server:
    server = grpc.aio.server(options=server_options(ServingSettings()))
    pb_grpc.add_ProviderServiceServicer_to_server(
        replica,
        ObservedServer(server, "test", [CallLimiter("test", limit)]),  # type: ignore[arg-type]
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    assert server.add_insecure_port(address)
    await server.start()
    return server


async def generate(stub: pb_grpc.ProviderServiceStub) -> list[str]:
    return [
        e.started.id async for e in stub.Generate(gen.GenerateRequest(model="m")) if e.started.id
    ]


@pytest.fixture(autouse=True)
def _service_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The channels these in-process servers are called through prove an identity, as every
    Rhone channel must (rhone/runtime/service_identity.py)."""
    monkeypatch.setenv("RHONE_SERVICE_TOKEN", "test-service-token")


@pytest.fixture
async def pair() -> AsyncIterator[
    tuple[Replica, Replica, grpc.aio.Server, pb_grpc.ProviderServiceStub]
]:
    port = free_port()
    a, b = Replica("a"), Replica("b")
    server_a = await start(f"127.0.0.2:{port}", a)
    a.address = f"127.0.0.2:{port}"
    server_b = await start(f"127.0.0.3:{port}", b)
    channel = open_channel(f"ipv4:127.0.0.2:{port},127.0.0.3:{port}")
    try:
        yield a, b, server_a, pb_grpc.ProviderServiceStub(channel)
    finally:
        await channel.close()
        await server_a.stop(None)
        await server_b.stop(None)


async def test_a_call_refused_before_its_first_message_is_answered_by_the_other_replica(pair):  # type: ignore[no-untyped-def]
    a, _, _, stub = pair
    a.mode = "refuse"
    answers = [await generate(stub) for _ in range(8)]
    assert answers == [["b"]] * 8
    assert a.calls >= 1, "round_robin never tried the refusing replica"


async def test_after_the_first_message_the_failure_reaches_the_caller(pair):  # type: ignore[no-untyped-def]
    a, _, _, stub = pair
    a.mode = "break"
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(await generate(stub))
        except grpc.aio.AioRpcError as exc:
            outcomes.append([exc.code().name])
    assert ["UNAVAILABLE"] in outcomes and ["b"] in outcomes
    assert a.calls == outcomes.count(["UNAVAILABLE"]), "a call that had started was sent twice"


async def test_a_draining_replica_finishes_its_calls_while_new_ones_go_to_the_other(pair):  # type: ignore[no-untyped-def]
    a, b, server_a, stub = pair
    a.mode = "hold"
    held = []
    while not a.holding.is_set():  # round_robin: every other call lands on a
        held.append(asyncio.ensure_future(generate(stub)))
        await asyncio.wait(
            [held[-1], asyncio.ensure_future(a.holding.wait())],
            timeout=5,
            return_when=asyncio.FIRST_COMPLETED,
        )
    stopping = asyncio.ensure_future(server_a.stop(10))
    await _refusing(a.address)  # from here a refuses new calls
    b_before = b.calls
    assert [await generate(stub) for _ in range(4)] == [["b"]] * 4
    assert b.calls == b_before + 4
    a.release.set()
    outcomes = await asyncio.gather(*held)
    assert ["a"] in outcomes and set(map(tuple, outcomes)) <= {("a",), ("b",)}
    await stopping


async def _refusing(address: str) -> None:
    """Until a stopping server takes no new call: a call sent in the moment it begins to stop
    may be cancelled there rather than refused (and so retried elsewhere)."""
    async with grpc.aio.insecure_channel(address) as channel:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=0.5
                )
            except grpc.aio.AioRpcError:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"{address} kept taking calls while stopping")


async def test_a_call_over_the_bound_is_refused_at_once_and_health_still_answers():
    address = f"127.0.0.2:{free_port()}"
    replica = Replica("a", mode="hold")
    server = await start(address, replica, limit=1)
    channel = open_channel(address)
    stub = pb_grpc.ProviderServiceStub(channel)
    try:
        held = asyncio.ensure_future(generate(stub))
        await asyncio.wait_for(replica.holding.wait(), 10)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await asyncio.wait_for(generate(stub), 2)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        checked = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=2
        )
        assert checked.status == health_pb2.HealthCheckResponse.SERVING
        replica.release.set()
        assert await held == ["a"]
        assert await generate(stub) == ["a"]
    finally:
        await channel.close()
        await server.stop(None)


class Slow(pb_grpc.ProviderServiceServicer):
    """Streams for `seconds`, an event every 0.1 s."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.peers: list[str] = []  # the client's address and port: one per connection

    async def Generate(
        self, request: gen.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gen.GenerationEvent]:
        self.peers.append(context.peer())
        yield ev.started("slow", "m", "p")
        for _ in range(int(self.seconds / 0.1)):
            await asyncio.sleep(0.1)
            yield ev.usage(1, 1)
        yield ev.finished(gen.FINISH_REASON_STOP)


async def test_connections_age_out_without_cutting_a_stream_or_failing_a_call():
    """A connection older than its max age is closed once its streams end (so the client
    connects again, and re-resolves its target); a stream longer than the age runs on, and
    calls made across the ageing all succeed."""
    settings = ServingSettings(grpc_max_connection_age_s=0.3, grpc_max_connection_age_grace_s=30)
    server = grpc.aio.server(options=server_options(settings))
    slow = Slow(1.5)
    pb_grpc.add_ProviderServiceServicer_to_server(slow, server)
    address = f"127.0.0.2:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    channel = open_channel(address)
    stub = pb_grpc.ProviderServiceStub(channel)
    try:

        async def later(delay_s: float) -> list[gen.GenerationEvent]:
            await asyncio.sleep(delay_s)  # calls spread over several connection ages
            return await collect(stub)

        long, *others = await asyncio.gather(collect(stub), *(later(0.4 * i) for i in range(1, 4)))
        assert long[-1].HasField("finished") and len(long) == 17
        assert all(events[-1].HasField("finished") for events in others)
        assert len(set(slow.peers)) >= 2, "the connection never aged out"
    finally:
        await channel.close()
        await server.stop(None)


async def collect(stub: pb_grpc.ProviderServiceStub) -> list[gen.GenerationEvent]:
    return [e async for e in stub.Generate(gen.GenerateRequest(model="m"))]
