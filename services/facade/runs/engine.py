"""The run engine: a run's model calls, its pauses for tool outputs, and its event log.

A run lives in the sessions database, not in a socket: every event is stored (numbered) before
any client sees it, and clients read the log. So a client whose socket drops reconnects to any
facade replica and reads on from the last number it saw; the step that was streaming goes on
where it runs. Each model call ("step") runs on the facade that started it (run.create, or the
run.submit_tool_outputs that resumed it), through the same translator call as any socket call:
the translator stays the engine of one call, the facade the engine of the loop. State changes
are guarded by the run's status in the store, so two replicas never both resume, cancel or
expire one run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import orjson

from rhone.ids import ID_RULE, is_id
from rhone.rpc_errors import detail_of
from rhone.v1 import runs_pb2 as rpb
from rhone.v1 import runs_pb2_grpc, sessions_pb2_grpc
from rhone.v1 import sessions_pb2 as spb
from services.facade.relay import Relay
from services.facade.runs.log_writer import LogWriter
from services.facade.runs.tools import ToolCall, next_body, tool_calls_of
from services.facade.ws.calls import CALL_SURFACES, run_socket_call

log = logging.getLogger("rhone.facade.runs")

RPC_TIMEOUT_S = 10
ENDED = ("completed", "failed", "cancelled", "expired")


@dataclass(frozen=True, slots=True)
class RunSettings:
    # How long a paused run waits for its tool outputs before it expires.
    tool_timeout_s: float = 600.0
    # The most model calls a run may ask for, and what it gets when it asks for none.
    max_steps_limit: int = 100
    default_max_steps: int = 10
    # How often a client following a run that streams on another replica looks for events.
    poll_s: float = 0.25
    # How often the facade running a step says so in the store; a step silent for three
    # beats is taken for dead (its facade was killed) and its run fails.
    heartbeat_s: float = 5.0


class RunError(Exception):
    """A run request the engine refuses: a stable code, a message and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def pending_of(run: rpb.Run) -> list[ToolCall]:
    return [ToolCall(**call) for call in orjson.loads(run.pending_json or "[]")]


def run_json(run: rpb.Run) -> dict[str, Any]:
    """A run as GET /v1/runs/{id} shows it."""
    return {
        "id": run.id,
        "object": "run",
        "status": run.status,
        "session_id": run.session_id,
        "surface": run.surface,
        "shape": run.surface,  # its rhone.ws.v1 name
        "steps": run.steps,
        "max_steps": run.max_steps,
        "pending_tool_calls": [c.as_json() for c in pending_of(run)],
        "expires_at_ms": run.deadline_ms or None,
        "last_seq": run.last_seq,
        "created_at_ms": run.created_at_ms,
        "updated_at_ms": run.updated_at_ms,
    }


class _Moved(Exception):
    """The run is no longer in the state a change needs (another replica moved it)."""


class RunEngine:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        sessions: sessions_pb2_grpc.SessionServiceStub,
        relay: Relay,
        settings: RunSettings,
    ) -> None:
        self.store = runs_pb2_grpc.RunServiceStub(channel)
        self.sessions = sessions
        self.relay = relay
        self.settings = settings
        self._steps: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._timers: dict[tuple[str, str], asyncio.Task[None]] = {}
        # Set when this process appends to a run: its local followers read on at once.
        self._bumps: dict[tuple[str, str], asyncio.Event] = {}
        self._closing = False

    # requests

    async def create(
        self,
        tenant_id: str,
        *,
        run_id: str | None,
        surface: str,
        body: dict[str, Any],
        max_steps: int | None,
        session_id: str,
    ) -> rpb.Run:
        """A new run of `surface`, a key of CALL_SURFACES (the socket checked it)."""
        if run_id is None:
            run_id = "run_" + secrets.token_hex(12)
        elif not is_id(run_id):
            raise RunError("invalid_run_id", f"run.create: run_id is not a valid id ({ID_RULE}).")
        limit = self.settings.max_steps_limit
        steps = self.settings.default_max_steps if max_steps is None else max_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= limit:
            raise RunError("invalid_frame", f"run.create: max_steps must be 1 to {limit}.")
        rhone = body.get("rhone")
        if rhone is not None and not isinstance(rhone, dict):
            raise RunError("invalid_frame", "rhone must be an object.")
        rhone = dict(rhone or {})
        if rhone.get("stateless"):
            raise RunError("invalid_frame", "A run keeps its conversation: it cannot be stateless.")
        named = rhone.get("session_id") or ""
        if not isinstance(named, str) or (named and not is_id(named)):
            raise RunError(
                "session_not_found", f"rhone.session_id is not a session id ({ID_RULE})."
            )
        if session_id and named and named != session_id:
            raise RunError(
                "session_mismatch",
                "The run names another session than the one the socket is bound to.",
            )
        session_id = session_id or named or await self._new_session(tenant_id)
        first = {k: v for k, v in body.items() if k != "rhone"}
        created = {
            "type": "run.created",
            "run_id": run_id,
            "session_id": session_id,
            "surface": surface,
            "shape": surface,  # its rhone.ws.v1 name
            "max_steps": steps,
        }
        try:
            run = await self.store.CreateRun(
                rpb.CreateRunRequest(
                    tenant_id=tenant_id,
                    run_id=run_id,
                    session_id=session_id,
                    surface=surface,
                    body_json=orjson.dumps(first).decode(),
                    max_steps=steps,
                    first_event=orjson.dumps(created),
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from None
        self._bump(run)
        await self._start_step(run, first, require="running")
        return run

    async def submit(self, tenant_id: str, run_id: str, outputs: Any) -> rpb.Run:
        """Resumes a paused run; returns it as it was before its next step's events."""
        run = await self.get(tenant_id, run_id)
        if run.status != "requires_action":
            raise _not_waiting(run)
        pending = pending_of(run)
        given = _outputs(outputs)
        missing = [c.id for c in pending if c.id not in given]
        unknown = sorted(set(given) - {c.id for c in pending})
        if missing or unknown:
            raise RunError(
                "invalid_tool_outputs",
                "run.submit_tool_outputs must answer each pending tool call once"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; not pending: {', '.join(unknown)}" if unknown else "")
                + ".",
            )
        body = next_body(run.surface, orjson.loads(run.body_json), pending, given)
        await self._start_step(run, body, require="requires_action")
        return run

    async def cancel(self, tenant_id: str, run_id: str) -> None:
        key = (tenant_id, run_id)
        step = self._steps.get(key)
        if step is not None:
            # Its call is cancelled up to the upstream; the step says run.cancelled itself.
            step.cancel()
            await asyncio.gather(step, return_exceptions=True)
            if (await self.get(tenant_id, run_id)).status in ENDED:
                return
        try:
            await self._append(
                tenant_id,
                run_id,
                [{"type": "run.cancelled", "run_id": run_id}],
                rpb.RunUpdate(status="cancelled", pending_json="[]", deadline_ms=0),
                ("running", "requires_action"),
            )
        except _Moved:
            raise _not_waiting(await self.get(tenant_id, run_id), cancel=True) from None
        self._stop_timer(key)

    async def get(self, tenant_id: str, run_id: str) -> rpb.Run:
        """The run, expired first if its wait for tool outputs is over."""
        try:
            run = await self.store.GetRun(
                rpb.GetRunRequest(tenant_id=tenant_id, run_id=run_id), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from None
        return await self._settle(run)

    async def follow(self, tenant_id: str, run_id: str, after: int) -> AsyncIterator[rpb.RunEvent]:
        """Every event after `after`, each once and in order, as it is stored; ends after the
        run's last event."""
        key = (tenant_id, run_id)
        while True:
            # Taken before the read: an append after the read sets it.
            bump = self._bumps.setdefault(key, asyncio.Event())
            try:
                listed = await self.store.ListRunEvents(
                    rpb.ListRunEventsRequest(tenant_id=tenant_id, run_id=run_id, after_seq=after),
                    timeout=RPC_TIMEOUT_S,
                )
            except grpc.aio.AioRpcError as exc:
                raise _rpc_error(exc) from None
            for event in listed.events:
                after = event.seq
                yield event
            run = listed.run
            if listed.events:
                continue
            if run.status in ENDED and after >= run.last_seq:
                return
            if run.status in ("requires_action", "running"):
                await self._settle(run)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bump.wait(), self.settings.poll_s)

    async def close(self) -> None:
        """Shutting down: steps in flight end as failed (their calls are cut off)."""
        self._closing = True
        for task in [*self._steps.values(), *self._timers.values()]:
            task.cancel()
        await asyncio.gather(*self._steps.values(), *self._timers.values(), return_exceptions=True)

    # steps

    async def _start_step(self, run: rpb.Run, body: dict[str, Any], *, require: str) -> None:
        """Moves the run into its next step (in the store, so only one replica does), then
        runs the step in the background: it outlives the socket that asked for it."""
        step = run.steps + 1
        try:
            await self._append(
                run.tenant_id,
                run.id,
                [{"type": "run.step", "run_id": run.id, "step": step}],
                rpb.RunUpdate(status="running", steps=step, pending_json="[]", deadline_ms=0),
                (require,),
            )
        except _Moved:
            raise _not_waiting(await self.get(run.tenant_id, run.id)) from None
        key = (run.tenant_id, run.id)
        self._stop_timer(key)
        task = asyncio.create_task(self._step(run, step, body))
        self._steps[key] = task
        beat = asyncio.create_task(self._heartbeat(run.tenant_id, run.id, task))
        task.add_done_callback(lambda _: (self._steps.pop(key, None), beat.cancel()))

    async def _heartbeat(self, tenant_id: str, run_id: str, step: asyncio.Task[None]) -> None:
        """Touches the running run every beat, so other replicas know its step is alive; a run
        moved on elsewhere (cancelled from another replica) stops the step at once, even while
        its call waits for the upstream."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await self._append_raw(tenant_id, run_id, [], None, ("running",))
            except _Moved:
                step.cancel()
                return
            except (RunError, grpc.aio.AioRpcError) as exc:
                log.warning("run %s: heartbeat failed: %s", run_id, exc)

    async def _step(self, run: rpb.Run, step: int, body: dict[str, Any]) -> None:
        tenant_id, run_id = run.tenant_id, run.id
        surface = CALL_SURFACES[run.surface]
        events: list[bytes] = []
        head = (
            b'{"type":"run.event","run_id":'
            + orjson.dumps(run_id)
            + b',"step":'
            + str(step).encode()
            + b',"event":'
        )

        writer = LogWriter(
            lambda batch: self._append_raw(tenant_id, run_id, batch, None, ("running",))
        )

        async def emit(event: bytes) -> None:
            events.append(event)
            await writer.put(head + event + b"}")

        call_body = {**body, "rhone": {"session_id": run.session_id}}
        try:
            outcome = await run_socket_call(
                self.relay, surface=surface, tenant_id=tenant_id, body=call_body, emit=emit
            )
            await writer.drain()
            if not outcome.ok:
                failed = {
                    "type": "run.failed",
                    "run_id": run_id,
                    "code": outcome.code,
                    "status": outcome.status,
                    "error": outcome.error,
                }
                await self._end(tenant_id, run_id, failed, "failed", ("running",))
                return
            calls = tool_calls_of(surface, events)
            if not calls:
                done = {
                    "type": "run.completed",
                    "run_id": run_id,
                    "steps": step,
                    "session_id": run.session_id,
                }
                await self._end(tenant_id, run_id, done, "completed", ("running",))
                return
            if step >= run.max_steps:  # no call is left to take the tools' outputs
                failed = _max_steps_failed(run)
                failed["tool_calls"] = [c.as_json() for c in calls]
                await self._end(tenant_id, run_id, failed, "failed", ("running",))
                return
            deadline_ms = int((time.time() + self.settings.tool_timeout_s) * 1000)
            action = {
                "type": "run.requires_action",
                "run_id": run_id,
                "step": step,
                "tool_calls": [c.as_json() for c in calls],
                "expires_at_ms": deadline_ms,
            }
            pending = orjson.dumps([c.as_json() for c in calls]).decode()
            update = rpb.RunUpdate(
                status="requires_action", pending_json=pending, deadline_ms=deadline_ms
            )
            await self._append(tenant_id, run_id, [action], update, ("running",))
            self._start_timer(tenant_id, run_id)
        except _Moved:
            # Cancelled (or expired) from another replica: run_socket_call's exit has
            # cancelled the call, so nothing of this turn is recorded.
            return
        except asyncio.CancelledError:
            end: dict[str, Any] = {"type": "run.cancelled", "run_id": run_id}
            status = "cancelled"
            if self._closing:  # the facade is going away, not the client's wish
                status, end = "failed", _interrupted(run_id)
            with contextlib.suppress(_Moved, RunError, grpc.aio.AioRpcError):
                await asyncio.shield(self._end(tenant_id, run_id, end, status, ("running",)))
            raise
        except (RunError, grpc.aio.AioRpcError) as exc:
            # The run's log cannot be written: the step stops (its call is cancelled).
            log.warning("run %s: its step stopped, the sessions service failed: %s", run_id, exc)
        finally:
            await writer.close()

    async def _end(
        self,
        tenant_id: str,
        run_id: str,
        event: dict[str, Any],
        status: str,
        require: tuple[str, ...],
    ) -> None:
        update = rpb.RunUpdate(status=status, pending_json="[]", deadline_ms=0)
        await self._append(tenant_id, run_id, [event], update, require)

    # expiry

    async def _settle(self, run: rpb.Run) -> rpb.Run:
        """The run, ended first when it is overdue: a pause past its deadline expires; a step
        whose facade stopped beating (killed) fails."""
        now_ms = time.time() * 1000
        if run.status == "running":
            stale_ms = 3 * self.settings.heartbeat_s * 1000
            ours = (run.tenant_id, run.id) in self._steps
            if ours or run.updated_at_ms + stale_ms > now_ms:
                return run
            with contextlib.suppress(_Moved):
                return await self._append(
                    run.tenant_id, run.id, [_interrupted(run.id)], _ENDED_FAILED, ("running",)
                )
            return await self._reread(run)
        if run.status != "requires_action" or run.deadline_ms > now_ms:
            return run
        expired = {
            "type": "run.failed",
            "run_id": run.id,
            "code": "run_expired",
            "status": 408,
            "error": {"message": "The run waited for its tool outputs longer than it may."},
        }
        update = rpb.RunUpdate(status="expired", pending_json="[]", deadline_ms=0)
        with contextlib.suppress(_Moved):
            return await self._append(
                run.tenant_id, run.id, [expired], update, ("requires_action",)
            )
        return await self._reread(run)

    async def _reread(self, run: rpb.Run) -> rpb.Run:
        try:
            return await self.store.GetRun(
                rpb.GetRunRequest(tenant_id=run.tenant_id, run_id=run.id), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from None

    def _start_timer(self, tenant_id: str, run_id: str) -> None:
        """Expires the paused run when its wait is over, if nobody resumed it by then."""
        key = (tenant_id, run_id)

        async def expire() -> None:
            await asyncio.sleep(self.settings.tool_timeout_s)
            with contextlib.suppress(RunError, grpc.aio.AioRpcError):
                await self.get(tenant_id, run_id)

        self._stop_timer(key)
        timer = asyncio.create_task(expire())
        self._timers[key] = timer
        timer.add_done_callback(lambda t: self._forget_timer(key, t))

    def _forget_timer(self, key: tuple[str, str], timer: asyncio.Task[None]) -> None:
        if self._timers.get(key) is timer:
            del self._timers[key]

    def _stop_timer(self, key: tuple[str, str]) -> None:
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()

    # store

    async def _append(
        self,
        tenant_id: str,
        run_id: str,
        events: list[dict[str, Any]],
        update: rpb.RunUpdate | None,
        require: tuple[str, ...],
    ) -> rpb.Run:
        raw = [orjson.dumps(event) for event in events]
        return await self._append_raw(tenant_id, run_id, raw, update, require)

    async def _append_raw(
        self,
        tenant_id: str,
        run_id: str,
        events: list[bytes],
        update: rpb.RunUpdate | None,
        require: tuple[str, ...],
    ) -> rpb.Run:
        try:
            run = await self.store.AppendRunEvents(
                rpb.AppendRunEventsRequest(
                    tenant_id=tenant_id,
                    run_id=run_id,
                    events=events,
                    update=update,
                    require_status=require,
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.ABORTED:
                raise _Moved(run_id) from None
            raise _rpc_error(exc) from None
        self._bump(run)
        return run

    def _bump(self, run: rpb.Run) -> None:
        if (bump := self._bumps.pop((run.tenant_id, run.id), None)) is not None:
            bump.set()

    async def _new_session(self, tenant_id: str) -> str:
        try:
            session = await self.sessions.CreateSession(
                spb.CreateSessionRequest(tenant_id=tenant_id), timeout=RPC_TIMEOUT_S
            )
        except grpc.aio.AioRpcError:
            raise RunError("unavailable", "The sessions service is unavailable.", 503) from None
        return str(session.id)


def _outputs(value: Any) -> dict[str, Any]:
    if not isinstance(value, list) or not value:
        raise RunError("invalid_tool_outputs", "tool_outputs must be a non-empty array.")
    outputs: dict[str, Any] = {}
    for i, item in enumerate(value):
        call_id = item.get("tool_call_id") if isinstance(item, dict) else None
        if not isinstance(call_id, str) or not call_id or "output" not in item:
            raise RunError(
                "invalid_tool_outputs",
                f"tool_outputs[{i}] must be an object with tool_call_id and output.",
            )
        if call_id in outputs:
            raise RunError("invalid_tool_outputs", f"tool_outputs answers {call_id} twice.")
        outputs[call_id] = item["output"]
    return outputs


_ENDED_FAILED = rpb.RunUpdate(status="failed", pending_json="[]", deadline_ms=0)


def _interrupted(run_id: str) -> dict[str, Any]:
    return {
        "type": "run.failed",
        "run_id": run_id,
        "code": "stream_interrupted",
        "status": 503,
        "error": {"message": "The run's call was cut off inside Rhone."},
    }


def _max_steps_failed(run: rpb.Run) -> dict[str, Any]:
    return {
        "type": "run.failed",
        "run_id": run.id,
        "code": "max_steps_exceeded",
        "status": 400,
        "error": {"message": f"The run reached its limit of {run.max_steps} model calls."},
    }


def _not_waiting(run: rpb.Run, *, cancel: bool = False) -> RunError:
    if run.status in ENDED:
        return RunError("run_ended", f"The run has ended ({run.status}).", 409)
    what = "cancelled" if cancel else "given tool outputs"
    return RunError("run_not_waiting", f"The run is {run.status}: it cannot be {what} now.", 409)


def _rpc_error(exc: grpc.aio.AioRpcError) -> RunError:
    detail = detail_of(exc)
    if exc.code() == grpc.StatusCode.NOT_FOUND:
        return RunError("run_not_found", "No run has that id.", 404)
    if exc.code() == grpc.StatusCode.ALREADY_EXISTS:
        return RunError("duplicate_run_id", "A run with that run_id exists.", 409)
    log.warning("runs store failed: %s %s %s", exc.code(), detail, exc.details())
    return RunError("unavailable", "The sessions service is unavailable.", 503)
