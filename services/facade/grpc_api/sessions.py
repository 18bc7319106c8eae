"""rhone.api.v1.Sessions: the caller's sessions and turns, over the sessions service's internal
RPCs with the tenant from the API key. Another tenant's ids are NOT_FOUND, exactly like unknown
ones (the sessions service scopes every lookup by tenant)."""

from __future__ import annotations

import base64
import binascii

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from rhone.api.v1 import sessions_pb2 as api
from rhone.api.v1 import sessions_pb2_grpc as api_grpc
from rhone.errors import RhoneError
from rhone.ids import check_body_id, check_cursor, check_name, check_path_id
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import sessions_pb2_grpc as spb_grpc
from services.facade.grpc_api.auth import current_tenant
from services.facade.grpc_api.errors import abort_with
from services.facade.routes.sessions import (
    failure_of_rpc,
    instruction_messages,
    instructions_text,
)

RPC_TIMEOUT_S = 10
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
UPDATABLE = ("metadata", "instructions", "default_model")
_TURNS_TOKEN = "turns:"


class SessionsServicer(api_grpc.SessionsServicer):
    def __init__(self, sessions: spb_grpc.SessionServiceStub) -> None:
        self.sessions = sessions

    async def CreateSession(
        self, request: api.CreateSessionRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateSessionResponse:
        try:
            check_name(request.default_model, "default_model")
            session = await self.sessions.CreateSession(
                spb.CreateSessionRequest(
                    tenant_id=current_tenant(),
                    metadata=request.metadata,
                    instructions=instruction_messages(request.instructions),
                    default_model=request.default_model,
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc)
        return api.CreateSessionResponse(session=session_of(session))

    async def GetSession(
        self, request: api.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetSessionResponse:
        try:
            session = await self.sessions.GetSession(
                spb.GetSessionRequest(
                    tenant_id=current_tenant(), session_id=_session_id(request.session_id)
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc)
        return api.GetSessionResponse(session=session_of(session))

    async def ListSessions(
        self, request: api.ListSessionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListSessionsResponse:
        try:
            page = await self.sessions.ListSessions(
                spb.ListSessionsRequest(
                    tenant_id=current_tenant(),
                    page_size=page_size(request.page_size),
                    cursor=check_cursor(request.page_token, "page_token"),
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc, cursor_param="page_token")
        return api.ListSessionsResponse(
            sessions=[session_of(s) for s in page.sessions], next_page_token=page.next_cursor
        )

    async def UpdateSession(
        self, request: api.UpdateSessionRequest, context: grpc.aio.ServicerContext
    ) -> api.UpdateSessionResponse:
        try:
            internal = update_request(current_tenant(), request)
            session = await self.sessions.UpdateSession(internal, timeout=RPC_TIMEOUT_S)
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc)
        return api.UpdateSessionResponse(session=session_of(session))

    async def DeleteSession(
        self, request: api.DeleteSessionRequest, context: grpc.aio.ServicerContext
    ) -> api.DeleteSessionResponse:
        try:
            await self.sessions.DeleteSession(
                spb.DeleteSessionRequest(
                    tenant_id=current_tenant(), session_id=_session_id(request.session_id)
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc)
        return api.DeleteSessionResponse()

    async def ListTurns(
        self, request: api.ListTurnsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTurnsResponse:
        try:
            size = page_size(request.page_size)
            after = turns_after(request.page_token)
            listed = await self.sessions.ListTurns(
                spb.ListTurnsRequest(
                    tenant_id=current_tenant(), session_id=_session_id(request.session_id)
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc)
        # The sessions service returns a session's turns whole and in order; pages are cut
        # here by position (a token names the last seq the caller has).
        rest = [turn for turn in listed.turns if turn.seq > after]
        page = rest[:size]
        token = turns_token(page[-1].seq) if len(rest) > size else ""
        return api.ListTurnsResponse(turns=[turn_of(t) for t in page], next_page_token=token)

    async def BranchSession(
        self, request: api.BranchSessionRequest, context: grpc.aio.ServicerContext
    ) -> api.BranchSessionResponse:
        try:
            session = await self.sessions.BranchSession(
                spb.BranchSessionRequest(
                    tenant_id=current_tenant(),
                    session_id=_session_id(request.session_id),
                    at_turn_id=check_body_id(request.turn_id, "turn_id", "turn id"),
                ),
                timeout=RPC_TIMEOUT_S,
            )
        except (RhoneError, grpc.aio.AioRpcError) as exc:
            await _abort(context, exc, turn_param="turn_id")
        return api.BranchSessionResponse(session=session_of(session))


async def _abort(
    context: grpc.aio.ServicerContext,
    exc: RhoneError | grpc.aio.AioRpcError,
    *,
    cursor_param: str = "",
    turn_param: str = "",
) -> None:
    failure = exc.failure if isinstance(exc, RhoneError) else failure_of_rpc(exc)
    # failure_of_rpc names the HTTP API's parameters; this API's are named here.
    if failure.param == "after":
        failure.param = cursor_param
    elif failure.param == "at_turn":
        failure.param = turn_param
    await abort_with(context, failure)


def _session_id(value: str) -> str:
    return check_path_id(value, "session", "session_not_found")


def page_size(value: int) -> int:
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise RhoneError.invalid(
            f"'page_size' must be from 1 to {MAX_PAGE_SIZE} (0: {DEFAULT_PAGE_SIZE}).",
            param="page_size",
        )
    return value


def turns_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_TURNS_TOKEN}{seq}".encode()).decode()


def turns_after(token: str) -> int:
    """The seq a ListTurns page token names; 0 for the first page."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    seq = text.removeprefix(_TURNS_TOKEN)
    if not text.startswith(_TURNS_TOKEN) or not seq.isdigit():
        raise RhoneError.invalid(
            "'page_token' is not a token this API returned.",
            param="page_token",
            detail="invalid_page_token",
        )
    return int(seq)


def update_request(tenant: str, request: api.UpdateSessionRequest) -> spb.UpdateSessionRequest:
    paths = list(request.update_mask.paths)
    if not paths:
        raise RhoneError.invalid(
            f"'update_mask' must name at least one of {', '.join(UPDATABLE)}.",
            param="update_mask",
        )
    for path in paths:
        if path not in UPDATABLE:
            raise RhoneError.invalid(
                f"'update_mask' may name only {', '.join(UPDATABLE)}, not '{path}'.",
                param="update_mask",
            )
    internal = spb.UpdateSessionRequest(
        tenant_id=tenant, session_id=_session_id(request.session_id)
    )
    given = request.session
    if "metadata" in paths:
        internal.metadata.CopyFrom(given.metadata)
    if "instructions" in paths:
        internal.instructions.SetInParent()
        internal.instructions.messages.extend(instruction_messages(given.instructions))
    if "default_model" in paths:
        internal.default_model = check_name(given.default_model, "session.default_model")
    return internal


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def session_of(session: spb.Session) -> api.Session:
    return api.Session(
        id=session.id,
        version=session.version,
        instructions=instructions_text(session.instructions) or "",
        metadata=session.metadata,
        default_model=session.default_model,
        create_time=_timestamp(session.created_at_ms),
        update_time=_timestamp(session.updated_at_ms),
        parent_session_id=session.parent_id,
        parent_turn_id=session.parent_turn_id,
    )


_STATUS = {
    spb.TURN_STATUS_COMPLETED: api.TURN_STATUS_COMPLETED,
    spb.TURN_STATUS_INCOMPLETE: api.TURN_STATUS_INCOMPLETE,
}


def turn_of(turn: spb.Turn) -> api.Turn:
    return api.Turn(
        id=turn.id,
        session_id=turn.session_id,
        seq=turn.seq,
        input=turn.input,
        output=turn.output,
        model=turn.model,
        provider=turn.provider,
        usage=turn.usage,
        status=_STATUS.get(turn.status, api.TURN_STATUS_UNSPECIFIED),
        create_time=_timestamp(turn.created_at_ms),
        duration=duration_pb2.Duration(
            seconds=turn.duration_ms // 1000, nanos=(turn.duration_ms % 1000) * 1_000_000
        ),
        snapshot=turn.snapshot,
        finish_reason=turn.finish_reason,
        response_id=turn.response_id,
    )
