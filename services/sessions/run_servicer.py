"""The RunService over gRPC (proto/rhone/v1/runs.proto): store exceptions become status codes,
with the precise reason under the trailing metadata key `rhone-error-detail`, as for sessions."""

from __future__ import annotations

from typing import NoReturn

import grpc

from rhone.v1 import runs_pb2 as pb
from rhone.v1 import runs_pb2_grpc as pb_grpc
from services.sessions.run_store import (
    RunChanges,
    RunConflict,
    RunExists,
    RunNotFound,
    SqlRunStore,
)
from services.sessions.servicer import ERROR_DETAIL_KEY

RUN_ERRORS = (RunNotFound, RunExists, RunConflict, ValueError)


async def _abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
    if isinstance(exc, RunNotFound):
        code, message, detail = (
            grpc.StatusCode.NOT_FOUND,
            f"No run with id '{exc}'.",
            "run_not_found",
        )
    elif isinstance(exc, RunExists):
        message = f"A run with id '{exc}' already exists."
        code, detail = grpc.StatusCode.ALREADY_EXISTS, "run_exists"
    elif isinstance(exc, RunConflict):
        message = f"Run '{exc}' is no longer in the state this change needs."
        code, detail = grpc.StatusCode.ABORTED, "run_conflict"
    else:
        code, message, detail = grpc.StatusCode.INVALID_ARGUMENT, str(exc), "invalid_request"
    await context.abort(code, message, trailing_metadata=((ERROR_DETAIL_KEY, detail),))
    raise AssertionError("abort returns by raising")  # pragma: no cover


class RunServicer(pb_grpc.RunServiceServicer):
    def __init__(self, store: SqlRunStore) -> None:
        self.store = store

    async def CreateRun(
        self, request: pb.CreateRunRequest, context: grpc.aio.ServicerContext
    ) -> pb.Run:
        try:
            return await self.store.create_run(
                request.tenant_id,
                request.run_id,
                session_id=request.session_id,
                shape=request.shape,
                body_json=request.body_json,
                max_steps=request.max_steps,
                first_event=request.first_event,
            )
        except RUN_ERRORS as exc:
            await _abort_for(context, exc)

    async def GetRun(self, request: pb.GetRunRequest, context: grpc.aio.ServicerContext) -> pb.Run:
        try:
            return await self.store.get_run(request.tenant_id, request.run_id)
        except RUN_ERRORS as exc:
            await _abort_for(context, exc)

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
        try:
            return await self.store.append(
                request.tenant_id,
                request.run_id,
                list(request.events),
                changes,
                list(request.require_status),
            )
        except RUN_ERRORS as exc:
            await _abort_for(context, exc)

    async def ListRunEvents(
        self, request: pb.ListRunEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListRunEventsResponse:
        try:
            run, events = await self.store.events_after(
                request.tenant_id, request.run_id, request.after_seq, request.limit
            )
        except RUN_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.ListRunEventsResponse(events=events, run=run)
