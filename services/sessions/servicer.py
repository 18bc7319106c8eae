"""The SessionService over gRPC: store exceptions become gRPC status codes the callers map to
their surface's error (NOT_FOUND -> 404, ABORTED -> 409 session_busy)."""

from __future__ import annotations

import grpc

from rhone.jsonutil import dict_from_struct
from rhone.v1 import sessions_pb2 as pb
from rhone.v1 import sessions_pb2_grpc as pb_grpc
from services.sessions.sql_store import SqlSessionStore
from services.sessions.store import LeaseLost, SessionBusy, SessionNotFound

DEFAULT_LEASE_MS = 10 * 60 * 1000


async def _abort_for(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    if isinstance(exc, SessionNotFound):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"No session found with id '{exc}'.")
    if isinstance(exc, SessionBusy):
        await context.abort(
            grpc.StatusCode.ABORTED,
            f"Session '{exc}' is busy with another call; retry when that call has finished.",
        )
    if isinstance(exc, LeaseLost):
        await context.abort(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"The lease on session '{exc}' expired before the turn was recorded.",
        )
    raise exc


class SessionServicer(pb_grpc.SessionServiceServicer):
    def __init__(self, store: SqlSessionStore) -> None:
        self.store = store

    async def ResolveApiKey(
        self, request: pb.ResolveApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ResolveApiKeyResponse:
        tenant = await self.store.resolve_api_key(request.api_key)
        if tenant is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Incorrect API key provided.")
        return pb.ResolveApiKeyResponse(tenant_id=tenant)

    async def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        return await self.store.create_session(
            request.tenant_id,
            metadata=dict_from_struct(request.metadata),
            instructions=list(request.instructions),
        )

    async def GetSession(
        self, request: pb.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.Session:
        try:
            return await self.store.get_session(request.tenant_id, request.session_id)
        except SessionNotFound as exc:
            await _abort_for(context, exc)
            raise

    async def BeginTurn(
        self, request: pb.BeginTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.BeginTurnResponse:
        try:
            begun = await self.store.begin_turn(
                request.tenant_id, request.session_id, request.lease_ms or DEFAULT_LEASE_MS
            )
        except (SessionNotFound, SessionBusy) as exc:
            await _abort_for(context, exc)
            raise
        return pb.BeginTurnResponse(
            session=begun.session, lease_id=begun.lease_id, context=begun.context
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
        except LeaseLost as exc:
            await _abort_for(context, exc)
            raise
        return pb.CommitTurnResponse(turn=turn, version=version)

    async def AbortTurn(
        self, request: pb.AbortTurnRequest, context: grpc.aio.ServicerContext
    ) -> pb.AbortTurnResponse:
        await self.store.abort_turn(request.tenant_id, request.session_id, request.lease_id)
        return pb.AbortTurnResponse()

    async def ListTurns(
        self, request: pb.ListTurnsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListTurnsResponse:
        try:
            turns = await self.store.list_turns(request.tenant_id, request.session_id)
        except SessionNotFound as exc:
            await _abort_for(context, exc)
            raise
        return pb.ListTurnsResponse(turns=turns)
