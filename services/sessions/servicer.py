"""The SessionService over gRPC: store exceptions become gRPC status codes the callers map to
their surface's error (NOT_FOUND -> 404, ABORTED -> 409 session_busy, INVALID_ARGUMENT ->
400, UNAVAILABLE -> 503 when the database cannot be reached). The trailing metadata key
`rhone-error-detail` names the error precisely (which id was not found), so a caller need not
parse the message."""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc

from rhone.jsonutil import dict_from_struct
from rhone.observability.metrics import LEASE_CONFLICTS
from rhone.v1 import sessions_pb2 as pb
from rhone.v1 import sessions_pb2_grpc as pb_grpc
from services.sessions.sql_store import SqlSessionStore
from services.sessions.store import (
    InvalidCursor,
    InvalidRequest,
    LeaseLost,
    ResponseNotFound,
    SessionBusy,
    SessionChanges,
    SessionNotFound,
    StoreUnavailable,
    TurnNotFound,
)

log = logging.getLogger("rhone.sessions")

ERROR_DETAIL_KEY = "rhone-error-detail"

# Everything the store raises for a caller's mistake, a race or an unreachable database;
# anything else is a bug and reaches the caller as INTERNAL.
STORE_ERRORS = (
    StoreUnavailable,
    SessionNotFound,
    SessionBusy,
    LeaseLost,
    TurnNotFound,
    ResponseNotFound,
    InvalidRequest,
)


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str, str]:
    """(code, message, detail) for a store exception."""
    if isinstance(exc, SessionNotFound):
        return grpc.StatusCode.NOT_FOUND, f"No session found with id '{exc}'.", "session_not_found"
    if isinstance(exc, TurnNotFound):
        turn_id, session_id = exc.args
        message = f"No turn with id '{turn_id}' in session '{session_id}'."
        return grpc.StatusCode.NOT_FOUND, message, "turn_not_found"
    if isinstance(exc, ResponseNotFound):
        message = f"No response found with id '{exc}'."
        return grpc.StatusCode.NOT_FOUND, message, "response_not_found"
    if isinstance(exc, SessionBusy):
        LEASE_CONFLICTS.inc()
        message = f"Session '{exc}' is busy with another call; retry when that call has finished."
        return grpc.StatusCode.ABORTED, message, "session_busy"
    if isinstance(exc, LeaseLost):
        message = (
            f"Session '{exc}' was deleted or taken over by another call before this call's "
            "turn was recorded."
        )
        return grpc.StatusCode.FAILED_PRECONDITION, message, "session_conflict"
    if isinstance(exc, InvalidCursor):
        message = f"The cursor '{exc}' is not one this service returned."
        return grpc.StatusCode.INVALID_ARGUMENT, message, "invalid_cursor"
    if isinstance(exc, InvalidRequest):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc), "invalid_request"
    if isinstance(exc, StoreUnavailable):
        # The operator's log gets the reason; the caller a message it may show anyone.
        log.warning("session store unavailable: %s", exc)
        message = "The session store is unavailable; retry shortly."
        return grpc.StatusCode.UNAVAILABLE, message, "store_unavailable"
    raise exc


async def _abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> NoReturn:
    code, message, detail = status_of(exc)
    await context.abort(code, message, trailing_metadata=((ERROR_DETAIL_KEY, detail),))
    raise AssertionError("abort returns by raising")  # pragma: no cover


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(self, store: SqlSessionStore, lease_ms: int) -> None:
        self.store = store
        # The lease time of a call that asks for none (RHONE_SESSION_LEASE_MS).
        self.lease_ms = lease_ms

    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        try:
            return await self.store.create_session(
                request.tenant_id,
                metadata=dict_from_struct(request.metadata),
                instructions=list(request.instructions),
                default_model=request.default_model,
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)

    async def GetSession(
        self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        try:
            return await self.store.get_session(request.tenant_id, request.session_id)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        try:
            page = await self.store.list_sessions(
                request.tenant_id, request.page_size, request.cursor
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.ListSessionsResponse(sessions=page.sessions, next_cursor=page.next_cursor)

    async def UpdateSession(
        self, request: pb.UpdateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        changes = SessionChanges(
            metadata=(dict_from_struct(request.metadata) if request.HasField("metadata") else None),
            instructions=(
                list(request.instructions.messages) if request.HasField("instructions") else None
            ),
            default_model=(request.default_model if request.HasField("default_model") else None),
            context_policy_json=(
                request.context_policy_json if request.HasField("context_policy_json") else None
            ),
        )
        try:
            return await self.store.update_session(request.tenant_id, request.session_id, changes)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)

    async def DeleteSession(
        self, request: pb.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSessionResponse:
        try:
            await self.store.delete_session(request.tenant_id, request.session_id)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.DeleteSessionResponse()

    async def BranchSession(
        self, request: pb.BranchSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        try:
            return await self.store.branch_session(
                request.tenant_id, request.session_id, request.at_turn_id
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)

    async def BeginTurn(
        self, request: pb.BeginTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.BeginTurnResponse:
        lease_ms = request.lease_ms or self.lease_ms
        try:
            begun = await self.store.begin_turn(
                request.tenant_id,
                request.session_id,
                lease_ms,
                from_response_id=request.from_response_id,
                known_version=request.known_version,
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.BeginTurnResponse(
            session=begun.session,
            lease_id=begun.lease_id,
            context=begun.context,
            lease_ms=lease_ms,
            context_is_delta=begun.is_delta,
        )

    async def CommitTurn(
        self, request: pb.CommitTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.CommitTurnResponse:
        try:
            turn, version = await self.store.commit_turn(
                request.tenant_id,
                request.session_id,
                request.lease_id,
                request.turn,
                list(request.instructions) if request.set_instructions else None,
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.CommitTurnResponse(turn=turn, version=version)

    async def AbortTurn(
        self, request: pb.AbortTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbortTurnResponse:
        try:
            await self.store.abort_turn(request.tenant_id, request.session_id, request.lease_id)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.AbortTurnResponse()

    async def RenewLease(
        self, request: pb.RenewLeaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewLeaseResponse:
        lease_ms = request.lease_ms or self.lease_ms
        try:
            await self.store.renew_lease(
                request.tenant_id, request.session_id, request.lease_id, lease_ms
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.RenewLeaseResponse(lease_ms=lease_ms)

    async def ListTurns(
        self, request: pb.ListTurnsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTurnsResponse:
        try:
            turns = await self.store.list_turns(request.tenant_id, request.session_id)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.ListTurnsResponse(turns=turns)

    async def GetTurnByResponseId(
        self, request: pb.GetTurnByResponseIdRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTurnByResponseIdResponse:
        try:
            found = await self.store.get_turn_by_response_id(request.tenant_id, request.response_id)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.GetTurnByResponseIdResponse(
            turn=found.turn, session_id=found.session_id, is_latest=found.is_latest
        )

    async def DeleteResponse(
        self, request: pb.DeleteResponseRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteResponseResponse:
        try:
            await self.store.delete_response(request.tenant_id, request.response_id)
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.DeleteResponseResponse()

    async def LoadContext(
        self, request: pb.LoadContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoadContextResponse:
        try:
            loaded = await self.store.load_context(
                request.tenant_id, request.session_id, from_response_id=request.from_response_id
            )
        except STORE_ERRORS as exc:
            await _abort_for(context, exc)
        return pb.LoadContextResponse(session=loaded.session, context=loaded.context)
