"""The RunService over gRPC (proto/rhone/v1/runs.proto): store exceptions become status codes,
with the precise reason under the trailing metadata key `rhone-error-detail`, as for sessions."""

from __future__ import annotations

import grpc

from rhone.rpc_errors import answering
from rhone.v1 import runs_pb2 as pb
from rhone.v1 import runs_pb2_grpc as pb_grpc
from services.sessions.run_store import (
    RunChanges,
    RunConflict,
    RunExists,
    RunNotFound,
    SqlRunStore,
)

RUN_ERRORS = (RunNotFound, RunExists, RunConflict, ValueError)


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str, str]:
    """(code, message, detail) for a run store exception."""
    if isinstance(exc, RunNotFound):
        return grpc.StatusCode.NOT_FOUND, f"No run with id '{exc}'.", "run_not_found"
    if isinstance(exc, RunExists):
        return (
            grpc.StatusCode.ALREADY_EXISTS,
            f"A run with id '{exc}' already exists.",
            "run_exists",
        )
    if isinstance(exc, RunConflict):
        message = f"Run '{exc}' is no longer in the state this change needs."
        return grpc.StatusCode.ABORTED, message, "run_conflict"
    return grpc.StatusCode.INVALID_ARGUMENT, str(exc), "invalid_request"


_answers = answering(RUN_ERRORS, status_of)


class RunServicer(pb_grpc.RunServiceServicer):
    def __init__(self, store: SqlRunStore) -> None:
        self.store = store

    @_answers
    async def CreateRun(
        self, request: pb.CreateRunRequest, context: grpc.aio.ServicerContext
    ) -> pb.Run:
        return await self.store.create_run(
            request.tenant_id,
            request.run_id,
            session_id=request.session_id,
            surface=request.surface,
            body_json=request.body_json,
            max_steps=request.max_steps,
            first_event=request.first_event,
        )

    @_answers
    async def GetRun(self, request: pb.GetRunRequest, context: grpc.aio.ServicerContext) -> pb.Run:
        return await self.store.get_run(request.tenant_id, request.run_id)

    @_answers
    async def AppendRunEvents(
        self, request: pb.AppendRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.Run:
        update = request.update
        changes = RunChanges(
            status=update.status if update.HasField("status") else None,
            steps=update.steps if update.HasField("steps") else None,
            pending_json=update.pending_json if update.HasField("pending_json") else None,
            deadline_ms=update.deadline_ms if update.HasField("deadline_ms") else None,
        )
        return await self.store.append(
            request.tenant_id,
            request.run_id,
            list(request.events),
            changes,
            list(request.require_status),
        )

    @_answers
    async def ListRunEvents(
        self, request: pb.ListRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRunEventsResponse:
        run, events = await self.store.events_after(
            request.tenant_id, request.run_id, request.after_seq, request.limit
        )
        return pb.ListRunEventsResponse(events=events, run=run)
