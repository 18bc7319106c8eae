"""rhone.ws.v1 frame parsing, and the outbox that bounds what a slow reader can make the
server hold."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from starlette.websockets import WebSocketDisconnect

from services.facade.ws import frames
from services.facade.ws.limits import SocketLimits
from services.facade.ws.outbox import Outbox
from services.facade.ws.socket_base import SocketBase


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type":"session.bind","session_id":null}', frames.Bind(None)),
        ('{"type":"session.bind","session_id":"sess_1"}', frames.Bind("sess_1")),
        (
            '{"type":"call.create","call_id":"c","surface":"openai.chat","body":{"model":"m"}}',
            frames.Create("c", "openai.chat", {"model": "m"}),
        ),
        # `shape`, the field's first name, still names the surface in rhone.ws.v1.
        (
            '{"type":"call.create","call_id":"c","shape":"anthropic.messages","body":{}}',
            frames.Create("c", "anthropic.messages", {}),
        ),
        (
            '{"type":"call.create","call_id":"c","surface":"rhone.canonical",'
            '"shape":"rhone.canonical","body":{}}',
            frames.Create("c", "rhone.canonical", {}),
        ),
        ('{"type":"call.cancel","call_id":"c"}', frames.Cancel("c")),
        ('{"type":"ping","data":[1]}', frames.Ping([1])),
    ],
)
def test_client_frames_parse(text: str, expected: frames.ClientFrame):
    assert frames.parse_client_frame(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", "invalid_json"),
        ("[1]", "invalid_frame"),
        ('{"type":"dance"}', "unknown_frame_type"),
        ('{"type":"session.bind","session_id":5}', "invalid_frame"),
        ('{"type":"call.create","surface":"openai.chat","body":{}}', "invalid_call_id"),
        ('{"type":"call.create","call_id":"c","surface":"fax","body":{}}', "invalid_surface"),
        ('{"type":"call.create","call_id":"c","body":{}}', "invalid_shape"),
        ('{"type":"call.create","call_id":"c","shape":"fax","body":{}}', "invalid_shape"),
        (
            '{"type":"call.create","call_id":"c","surface":"openai.chat",'
            '"shape":"anthropic.messages","body":{}}',
            "invalid_surface",
        ),
        ('{"type":"call.create","call_id":"c","surface":"openai.chat","body":[]}', "invalid_frame"),
        ('{"type":"call.cancel","call_id":""}', "invalid_call_id"),
    ],
)
def test_bad_frames_name_their_error(text: str, code: str):
    with pytest.raises(frames.FrameError) as caught:
        frames.parse_client_frame(text)
    assert caught.value.code == code


def test_event_frames_wrap_the_surfaces_event_unchanged():
    wrapped = frames.event_frame(b'"c1"', b'{"object":"chat.completion.chunk","choices":[]}')
    assert orjson.loads(wrapped) == {
        "type": "call.event",
        "call_id": "c1",
        "event": {"object": "chat.completion.chunk", "choices": []},
    }


class SlowSocket:
    """A socket whose reader is stalled until released."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.scope: dict[str, object] = {}  # served by no uvicorn protocol: frames go one by one

    async def send_text(self, frame: str) -> None:
        await self.release.wait()
        self.sent.append(frame)


async def test_a_slow_reader_makes_writers_wait_within_the_byte_budget():
    socket = SlowSocket()
    outbox = Outbox(socket, max_bytes=1000)  # type: ignore[arg-type]
    sender = asyncio.create_task(outbox.run())
    frame = "x" * 100
    writer = asyncio.create_task(_write(outbox, frame, 50))
    await asyncio.sleep(0.05)
    assert not writer.done(), "the writer must block while the reader is stalled"
    assert outbox.queued_bytes <= 1000
    socket.release.set()
    await asyncio.wait_for(writer, 5)
    await outbox.close()
    await asyncio.wait_for(sender, 5)
    assert socket.sent == [frame] * 50


async def test_one_frame_larger_than_the_budget_still_goes():
    socket = SlowSocket()
    socket.release.set()
    outbox = Outbox(socket, max_bytes=10)  # type: ignore[arg-type]
    sender = asyncio.create_task(outbox.run())
    await asyncio.wait_for(outbox.put("y" * 100), 5)
    await outbox.close()
    await asyncio.wait_for(sender, 5)
    assert socket.sent == ["y" * 100]


class BatchWriter:
    """Stands for services/facade/ws/frame_writer.py: records each write's frames."""

    def __init__(self, socket: SlowSocket) -> None:
        self.socket = socket
        self.writes: list[list[str]] = []

    async def write(self, texts: list[str]) -> None:
        await self.socket.release.wait()
        self.writes.append(list(texts))


async def test_frames_queued_together_go_in_writes_of_at_most_64_kib_in_order():
    socket = SlowSocket()
    outbox = Outbox(socket, max_bytes=1 << 20)  # type: ignore[arg-type]
    writer = outbox._writer = BatchWriter(socket)  # type: ignore[assignment]
    sender = asyncio.create_task(outbox.run())
    sizes = [10, 20, 40_000, 40_000, 70_000, 5, 7]
    sent = [str(i) * size for i, size in enumerate(sizes)]
    for frame in sent:  # all queued while the first write waits for the reader
        await outbox.put(frame)
    socket.release.set()
    await outbox.close()
    await asyncio.wait_for(sender, 5)
    assert [frame for batch in writer.writes for frame in batch] == sent
    assert all(sum(map(len, batch)) <= 64 * 1024 for batch in writer.writes if len(batch) > 1)
    assert len(writer.writes) < len(sent) and outbox.queued_bytes == 0


async def _write(outbox: Outbox, frame: str, count: int) -> None:
    for _ in range(count):
        await outbox.put(frame)


class BrokenSocket:
    """A socket whose writes fail while its client is still there."""

    def __init__(self) -> None:
        self.scope: dict[str, object] = {}
        self.closed = asyncio.Event()
        self.code: int | None = None

    async def send_text(self, frame: str) -> None:
        raise RuntimeError("the writer is broken")

    async def receive_text(self) -> str:
        await self.closed.wait()
        raise WebSocketDisconnect(self.code or 1000)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.closed.set()


async def test_a_socket_whose_writer_fails_is_closed_not_left_waiting():
    socket = BrokenSocket()
    state = SimpleNamespace(admission=SimpleNamespace(sockets=set()))
    base = SocketBase(socket, state, "tenant", SocketLimits())  # type: ignore[arg-type]
    serving = asyncio.create_task(base.serve())
    await base.outbox.put(frames.pong("ping"))
    await asyncio.wait_for(serving, 5)
    assert socket.code == frames.CLOSE_INTERNAL_ERROR
