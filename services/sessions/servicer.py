"""The SessionService over gRPC: store exceptions become gRPC status codes the callers map to
their surface's error (NOT_FOUND -> 404, ABORTED -> 409 session_busy, ALREADY_EXISTS -> 409
session_exists, INVALID_ARGUMENT -> 400, UNAVAILABLE -> 503 when the database cannot be
reached), in one place (status_of, applied to every method by rhone.rpc_errors.answering).
The trailing metadata key `rhone-error-detail` names the error precisely (session_not_found,
turn_not_found...), so a caller need not parse the message."""

from __future__ import annotations

import asyncio
import logging

import grpc

from rhone.jsonutil import dict_from_struct
from rhone.observability.grpc_hooks import BatchedCalls
from rhone.observability.metrics import LEASE_CONFLICTS
from rhone.rpc_errors import answering
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
    SessionExists,
    SessionNotFound,
    StoreUnavailable,
    TurnNotFound,
)

log = logging.getLogger("rhone.sessions")

# Everything the store raises for a caller's mistake, a race or an unreachable database.
STORE_ERRORS = (
    StoreUnavailable,
    SessionNotFound,
    SessionExists,
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
    if isinstance(exc, SessionExists):
        message = f"A session with id '{exc}' exists already; nothing was written."
        return grpc.StatusCode.ALREADY_EXISTS, message, "session_exists"
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


# Every method: a store exception ends the call with its status (status_of).
_answers = answering(STORE_ERRORS, status_of)


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(self, store: SqlSessionStore, lease_ms: int) -> None:
        self.store = store
        # The lease time of a call that asks for none (RHONE_SESSION_LEASE_MS).
        self.lease_ms = lease_ms
        self.batched_commits = BatchedCalls("sessions", "/rhone.v1.SessionService/CommitTurn")

    @_answers
    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        return await self.store.create_session(
            request.tenant_id,
            metadata=dict_from_struct(request.metadata),
            instructions=list(request.instructions),
            default_model=request.default_model,
        )

    @_answers
    async def GetSession(
        self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        return await self.store.get_session(request.tenant_id, request.session_id)

    @_answers
    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSessionsResponse:
        page = await self.store.list_sessions(request.tenant_id, request.page_size, request.cursor)
        return pb.ListSessionsResponse(sessions=page.sessions, next_cursor=page.next_cursor)

    @_answers
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
        return await self.store.update_session(request.tenant_id, request.session_id, changes)

    @_answers
    async def DeleteSession(
        self, request: pb.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSessionResponse:
        await self.store.delete_session(request.tenant_id, request.session_id)
        return pb.DeleteSessionResponse()

    @_answers
    async def BranchSession(
        self, request: pb.BranchSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        return await self.store.branch_session(
            request.tenant_id, request.session_id, request.at_turn_id
        )

    @_answers
    async def BeginTurn(
        self, request: pb.BeginTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.BeginTurnResponse:
        lease_ms = request.lease_ms or self.lease_ms
        begun = await self.store.begin_turn(
            request.tenant_id,
            request.session_id,
            lease_ms,
            from_response_id=request.from_response_id,
            known_version=request.known_version,
        )
        return pb.BeginTurnResponse(
            session=begun.session,
            lease_id=begun.lease_id,
            context=begun.context,
            lease_ms=lease_ms,
            context_is_delta=begun.is_delta,
        )

    @_answers
    async def CommitTurn(
        self, request: pb.CommitTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.CommitTurnResponse:
        return await self._commit(request)

    async def CommitTurns(
        self, request: pb.CommitTurnsRequest, context: grpc.aio.ServicerContext
    ) -> pb.CommitTurnsResponse:
        # Concurrently, so that the store's units meet at the database together (the SQLite
        # backend runs units that wait together in one hop to its thread).
        outcomes = await asyncio.gather(*map(self._batched_commit, request.commits))
        return pb.CommitTurnsResponse(outcomes=outcomes)

    async def _commit(self, request: pb.CommitTurnRequest) -> pb.CommitTurnResponse:
        turn, version = await self.store.commit_turn(
            request.tenant_id,
            request.session_id,
            request.lease_id,
            request.turn,
            list(request.instructions) if request.set_instructions else None,
            create=request.create_session,
        )
        return pb.CommitTurnResponse(turn=turn, version=version)

    async def _batched_commit(self, batched: pb.BatchedCommit) -> pb.CommitOutcome:
        """One commit of a batch, answered whatever happens to it: an error of its own never
        fails the batch, whose other commits may have been kept."""
        call = self.batched_commits.begin(batched.call_metadata)
        code, message, detail = grpc.StatusCode.OK, "", ""
        try:
            committed = await self._commit(batched.commit)
        except STORE_ERRORS as exc:
            code, message, detail = status_of(exc)
        except Exception:
            log.exception("committing a turn failed")
            code, message = grpc.StatusCode.INTERNAL, "The turn could not be recorded."
        except BaseException:
            call.finish_with("CANCELLED")
            raise
        call.finish_with(code.name)
        if code is not grpc.StatusCode.OK:
            failed = pb.CallStatus(code=code.value[0], message=message, detail=detail)
            return pb.CommitOutcome(failed=failed)
        return pb.CommitOutcome(committed=committed)

    @_answers
    async def AbortTurn(
        self, request: pb.AbortTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbortTurnResponse:
        await self.store.abort_turn(request.tenant_id, request.session_id, request.lease_id)
        return pb.AbortTurnResponse()

    @_answers
    async def RenewLease(
        self, request: pb.RenewLeaseRequest, context: grpc.aio.ServicerContext
    ) -> pb.RenewLeaseResponse:
        lease_ms = request.lease_ms or self.lease_ms
        await self.store.renew_lease(
            request.tenant_id, request.session_id, request.lease_id, lease_ms
        )
        return pb.RenewLeaseResponse(lease_ms=lease_ms)

    @_answers
    async def ListTurns(
        self, request: pb.ListTurnsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTurnsResponse:
        turns = await self.store.list_turns(request.tenant_id, request.session_id)
        return pb.ListTurnsResponse(turns=turns)

    @_answers
    async def GetTurnByResponseId(
        self, request: pb.GetTurnByResponseIdRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetTurnByResponseIdResponse:
        found = await self.store.get_turn_by_response_id(request.tenant_id, request.response_id)
        return pb.GetTurnByResponseIdResponse(
            turn=found.turn, session_id=found.session_id, is_latest=found.is_latest
        )

    @_answers
    async def DeleteResponse(
        self, request: pb.DeleteResponseRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteResponseResponse:
        await self.store.delete_response(request.tenant_id, request.response_id)
        return pb.DeleteResponseResponse()

    @_answers
    async def LoadContext(
        self, request: pb.LoadContextRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoadContextResponse:
        loaded = await self.store.load_context(
            request.tenant_id, request.session_id, from_response_id=request.from_response_id
        )
        return pb.LoadContextResponse(session=loaded.session, context=loaded.context)
