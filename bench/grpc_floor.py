"""The floor under Rhone's internal hops: what one bare grpc.aio call costs, in each shape a
call between two services can take, with nothing of Rhone's in it.

A whole answer through Rhone is three internal unary calls (`CallWhole`, `GenerateWhole`, and a
share of a `CommitTurns` batch), a streamed one two streams and that share: this says how much
of their CPU the calls themselves take, before any work is done in them, and what another
shape would save. Two processes, a client and a server with empty handlers that
move opaque bytes (about the sizes of a whole chat completion's request and answer), pinned
to one core as the bench pins a gateway; the client keeps `concurrency` calls in flight. The
cost is the CPU both processes used (utime + stime from /proc, every thread of grpc's
included), divided by the calls.

Shapes:
- `unary`: one request, one answer;
- `stream/1`, `stream/2`: one request, an answer streamed as one message, or two (a head,
  then the rest), as server-streaming RPCs are;
- `multiplexed`: no call per request at all: each request is one message on a long-lived
  bidirectional stream and its answer one message back, matched by a tag (what a transport
  that kept calls inside open streams would pay);
- `lanes`: no call per request either: long-lived bidirectional streams, each carrying one
  request and its answer at a time, taken from a pool (what Rhone's lanes pay, docs/grpc.md).

The shapes take turns in rounds; each cell is the median over the rounds.

    python -m bench.grpc_floor [--calls 4000] [--rounds 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

import grpc

from bench import cpu
from rhone.launcher import free_port

SERVICE = "rhone.bench.Floor"
SHAPES = ("unary", "stream/1", "stream/2", "multiplexed", "lanes")
REQUEST = b"q" * 400
ANSWER = b"a" * 600
TAG = 8  # bytes of a multiplexed request's tag, echoed at the head of its answer


def _same(data: bytes) -> bytes:
    return data


async def serve(port: int) -> None:
    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return ANSWER

    async def stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        if request[:1] == b"2":
            yield ANSWER[:40]
            yield ANSWER[40:]
        else:
            yield ANSWER

    async def multiplexed(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request[:TAG] + ANSWER

    async def lanes(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
        while await context.read() is not grpc.aio.EOF:
            await context.write(ANSWER)

    handlers = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, _same, _same),
            "Stream": grpc.unary_stream_rpc_method_handler(stream, _same, _same),
            "Multiplexed": grpc.stream_stream_rpc_method_handler(multiplexed, _same, _same),
            "Lanes": grpc.stream_stream_rpc_method_handler(lanes, _same, _same),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handlers,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


class Client:
    """One channel to the server, and a call of each shape on it."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        method = f"/{SERVICE}/"
        self.unary = self.channel.unary_unary(method + "Unary", _same, _same)
        self.stream = self.channel.unary_stream(method + "Stream", _same, _same)
        self.bidi = self.channel.stream_stream(method + "Multiplexed", _same, _same)
        self.lanes = self.channel.stream_stream(method + "Lanes", _same, _same)
        self.idle: list[grpc.aio.StreamStreamCall] = []
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self.sent = 0
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.channel.channel_ready()
        self.reader = asyncio.ensure_future(self._read(self.bidi(self._requests())))

    async def _requests(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.outbox.get()

    async def _read(self, call: AsyncIterator[bytes]) -> None:
        async for answer in call:
            self.waiting.pop(answer[:TAG]).set_result(answer)

    def call_of(self, shape: str) -> Callable[[], object]:
        async def unary() -> None:
            await self.unary(REQUEST)

        async def stream(first: bytes) -> None:
            async for _ in self.stream(first + REQUEST):
                pass

        async def multiplexed() -> None:
            self.sent += 1
            tag = self.sent.to_bytes(TAG, "big")
            answer = asyncio.get_running_loop().create_future()
            self.waiting[tag] = answer
            self.outbox.put_nowait(tag + REQUEST)
            await answer

        async def lane() -> None:
            call = self.idle.pop() if self.idle else self.lanes()
            await call.write(REQUEST)
            await call.read()
            self.idle.append(call)

        return {
            "lanes": lane,
            "unary": unary,
            "stream/1": lambda: stream(b"1"),
            "stream/2": lambda: stream(b"2"),
            "multiplexed": multiplexed,
        }[shape]

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.channel.close()


async def run_shape(client: Client, shape: str, calls: int, concurrency: int) -> float:
    """`calls` calls of the shape, `concurrency` at a time; the seconds they took."""
    one = client.call_of(shape)
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()  # type: ignore[misc]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


Spent = dict[str, list[tuple[float, float]]]


async def measure(port: int, server_pid: int, args: argparse.Namespace) -> Spent:
    """CPU µs per call of the client and of the server, per shape, one pair per round."""
    client = Client(port)
    await client.open()
    spent: Spent = {shape: [] for shape in SHAPES}
    try:
        for shape in SHAPES:  # warm up
            await run_shape(client, shape, args.calls // 10, args.concurrency)
        for round_ in range(args.rounds):
            for shape in SHAPES if round_ % 2 == 0 else SHAPES[::-1]:
                before = cpu.cpu_seconds([os.getpid()]), cpu.cpu_seconds([server_pid])
                await run_shape(client, shape, args.calls, args.concurrency)
                used = (
                    cpu.cpu_seconds([os.getpid()]) - before[0],
                    cpu.cpu_seconds([server_pid]) - before[1],
                )
                spent[shape].append((used[0] / args.calls * 1e6, used[1] / args.calls * 1e6))
    finally:
        await client.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000, help="calls of each shape a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.grpc_floor", "--serve", str(port)])
    try:
        time.sleep(1.0)
        core = min(os.sched_getaffinity(0))
        pinned = cpu.pin([os.getpid(), server.pid], {core})
        spent = asyncio.run(measure(port, server.pid, args))
    finally:
        server.terminate()
        server.wait(10)
    where = f"both pinned to core {core}" if pinned else "not pinned (no affinity here)"
    print(f"\nOne bare grpc.aio call: CPU µs of the client, the server, and both ({where});")
    print(f"c={args.concurrency}, medians of {args.rounds} rounds of {args.calls} calls")
    print(f"  {'shape':<12}{'client':>8}{'server':>8}{'both':>8}")
    unary = statistics.median(sum(pair) for pair in spent["unary"])
    for shape in SHAPES:
        client, server = (statistics.median(side) for side in zip(*spent[shape], strict=True))
        both = statistics.median(sum(pair) for pair in spent[shape])
        cells = f"{client:>8.0f}{server:>8.0f}{both:>8.0f}"
        print(f"  {shape:<12}{cells}   x{both / unary:.2f} of unary")


if __name__ == "__main__":
    main()
