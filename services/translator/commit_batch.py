"""Group commit: the turns that are ready to be recorded together go to the sessions service in
one CommitTurns RPC instead of a CommitTurn each.

A commit waits for nothing when no batch is out: it is sent on the event loop's next turn, with
whatever other commits arrived meanwhile, so a lone call's latency is unchanged. While a batch
is out, the commits that arrive wait for it to be answered and go together in the next one: the
busier the translator, the fuller its batches, and the fewer RPCs (each a fixed cost in both
processes, and a wakeup of the sessions service) a call pays for. A batch that is slow to be
answered (a database lock held elsewhere) holds the next commits back for `STALL_S` at most:
then they go in a batch of their own, up to `MAX_IN_FLIGHT` batches out at once.

Each commit keeps its own transaction, outcome and error: a caller gets the CommitTurnResponse
or the AioRpcError its own CommitTurn would have given (rhone/rpc_errors.py reads them the same
way). A commit whose caller is cancelled before its batch leaves is left out (nothing is
written); once sent, it runs to its end, as a CommitTurn whose caller went away mid-write does.

A batch whose replica went away with it (CANCELLED by a replica stopping, or UNAVAILABLE) is
sent once more: the turns are named by the translator, so a commit the replica did keep is
found, not doubled. A sessions replica older than CommitTurns answers UNIMPLEMENTED, having done
nothing: that batch's commits are sent one by one, and so is every later commit of this
process (a rolling upgrade)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass

import grpc

from rhone.observability import scope
from rhone.rpc_errors import ERROR_DETAIL_KEY
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc

log = logging.getLogger("rhone.translator.commits")

# How many commits a batch carries, and how many bytes of them: one turn may be tens of MiB (a
# body of up to RHONE_MAX_BODY_BYTES, images included), and a batch must stay far below the
# 64 MiB a gRPC message may have (a commit larger than this goes alone, as it would unbatched).
# How long the next commits wait for a batch that is out before they go without it; how many
# batches may be out at once.
MAX_BATCH = 64
MAX_BATCH_BYTES = 8 * 1024 * 1024
STALL_S = 0.05
MAX_IN_FLIGHT = 4
# A commit's deadline: the channel's 5 s for the sessions service, and one more second for
# every 4 MiB it carries (an answer of 48 MB is serialized, sent and written in one unit: on a
# busy machine that alone can take more than 5 s).
COMMIT_TIMEOUT_S = 5.0
COMMIT_BYTES_PER_S = 4 * 1024 * 1024


def commit_timeout(size: int) -> float:
    return COMMIT_TIMEOUT_S + size / COMMIT_BYTES_PER_S


_CODES = {code.value[0]: code for code in grpc.StatusCode}
# A batch that failed with these was not answered by a replica that did its work: the batch
# task is never cancelled by a caller, so CANCELLED is the server's (a replica stopping).
_SEND_AGAIN = (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


@dataclass(slots=True)
class _Waiting:
    request: spb.CommitTurnRequest
    call_metadata: list[tuple[str, str]]
    answer: asyncio.Future[spb.CommitTurnResponse]
    size: int


def _error_of(status: spb.CallStatus) -> grpc.aio.AioRpcError:
    """The error the commit's own CommitTurn would have raised."""
    trailing = grpc.aio.Metadata(*([(ERROR_DETAIL_KEY, status.detail)] if status.detail else []))
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, status.message)


class CommitBatcher:
    def __init__(self, sessions: sessions_pb2_grpc.SessionServiceStub) -> None:
        self.sessions = sessions
        # False once a sessions replica answered CommitTurns with UNIMPLEMENTED.
        self.batched = True
        self._waiting: list[_Waiting] = []
        self._sending = 0
        self._last_sent = 0.0
        self._flush_at: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def commit(self, request: spb.CommitTurnRequest) -> spb.CommitTurnResponse:
        if not self.batched:
            return await self.sessions.CommitTurn(
                request, timeout=commit_timeout(request.ByteSize())
            )
        call_scope = scope.current_or_none()
        loop = asyncio.get_running_loop()
        waiting = _Waiting(
            request,
            call_scope.outgoing_metadata() if call_scope is not None else [],
            loop.create_future(),
            request.ByteSize(),
        )
        self._waiting.append(waiting)
        self._schedule(loop)
        # A caller cancelled here cancels its future: a batch not yet sent leaves it out.
        return await waiting.answer

    def _schedule(self, loop: asyncio.AbstractEventLoop, *, now: bool = False) -> None:
        if self._flush_at is not None or not self._waiting or self._sending >= MAX_IN_FLIGHT:
            return
        # In a context of its own: the batch is no one call's (its RPC carries no call's ids
        # or trace context; each commit carries its own).
        context = contextvars.Context()
        if now or self._sending == 0:
            self._flush_at = loop.call_soon(self._flush, loop, context=context)
        else:
            due = self._last_sent + STALL_S
            self._flush_at = loop.call_at(due, self._flush, loop, context=context)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_at = None
        batch: list[_Waiting] = []
        size = taken = 0
        full = False
        for waiting in self._waiting:
            if waiting.answer.done():  # its caller went away
                taken += 1
                continue
            if batch and (len(batch) == MAX_BATCH or size + waiting.size > MAX_BATCH_BYTES):
                full = True
                break
            batch.append(waiting)
            size += waiting.size
            taken += 1
        del self._waiting[:taken]
        if batch:
            self._sending += 1
            self._last_sent = loop.time()
            task = loop.create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # The commits a full batch left go next, at once: they waited for nothing.
        self._schedule(loop, now=full)

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            await self._send_batch(batch)
        finally:
            self._sending -= 1
            if self._sending == 0 and self._flush_at is not None:
                # Waiting for this batch, not for the timer: the next one leaves now.
                self._flush_at.cancel()
                self._flush_at = None
            self._schedule(asyncio.get_running_loop())

    async def _send_batch(self, batch: list[_Waiting]) -> None:
        request = spb.CommitTurnsRequest(
            commits=[
                spb.BatchedCommit(commit=w.request, call_metadata=dict(w.call_metadata))
                for w in batch
            ]
        )
        timeout = commit_timeout(sum(w.size for w in batch))
        try:
            try:
                reply = await self.sessions.CommitTurns(request, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _SEND_AGAIN:
                    raise
                # The replica went away with the batch (one stopping cancels the calls it
                # had not started): once more, on another. A commit it did keep is found by
                # its turn's id (turns.py names each turn), not written twice.
                log.warning("a batch of %d commits is sent again: %s", len(batch), exc.code())
                reply = await self.sessions.CommitTurns(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                await self._one_by_one(batch)
                return
            for w in batch:
                _settle(w, exc)
            return
        except asyncio.CancelledError:  # the process stopping
            for w in batch:
                w.answer.cancel()
            raise
        except Exception as exc:
            for w in batch:
                _settle(w, exc)
            return
        if len(reply.outcomes) != len(batch):
            error = grpc.aio.AioRpcError(
                grpc.StatusCode.INTERNAL,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                "The sessions service answered a batch of commits with another count.",
            )
            for w in batch:
                _settle(w, error)
            return
        for w, outcome in zip(batch, reply.outcomes, strict=True):
            if outcome.HasField("committed"):
                _settle(w, outcome.committed)
            else:
                _settle(w, _error_of(outcome.failed))

    async def _one_by_one(self, batch: list[_Waiting]) -> None:
        if self.batched:
            self.batched = False
            log.warning(
                "the sessions service does not take batched commits (CommitTurns); "
                "turns are committed one by one from now on"
            )

        async def one(w: _Waiting) -> None:
            try:
                # With its call's ids and trace context, as if it had never waited.
                reply = await self.sessions.CommitTurn(
                    w.request, metadata=w.call_metadata, timeout=commit_timeout(w.size)
                )
                _settle(w, reply)
            except grpc.aio.AioRpcError as exc:
                _settle(w, exc)

        await asyncio.gather(*(one(w) for w in batch))


def _settle(waiting: _Waiting, outcome: spb.CommitTurnResponse | BaseException) -> None:
    if waiting.answer.done():  # its caller went away
        return
    if isinstance(outcome, BaseException):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)
