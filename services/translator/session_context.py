"""A session's context seen and compacted by id: `GET /v1/sessions/{id}/context` (what the next
call would send, after the session's policy) and `POST /v1/sessions/{id}:compact` (a summary
made now and recorded as a snapshot turn). Both use the machinery a call uses
(context_fit.py, compaction/), so what they show and do is what a call would."""

from __future__ import annotations

import grpc
import orjson

from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import sessions_pb2 as spb
from rhone.v1 import translator_pb2 as tpb
from services.translator.compaction.summary import summary_part
from services.translator.context_fit import ContextFitter
from services.translator.context_policy import (
    ContextPolicy,
    cut_points,
    parse_policy,
    stored_policy,
)
from services.translator.continuity import compose
from services.translator.lease import LeaseKeeper
from services.translator.turns import TurnRunner, rpc_failure


def _policy(request: tpb.SessionContextRequest, session: spb.Session) -> ContextPolicy:
    given = (
        parse_policy(orjson.loads(request.context_policy_json))
        if request.context_policy_json
        else ContextPolicy()
    )
    return given.over(stored_policy(session.context_policy_json))


def _model(request: tpb.SessionContextRequest, session: spb.Session) -> str:
    model = request.model or session.default_model
    if not model:
        raise RhoneError.invalid(
            "Name the model of the next call ('model'); the session has no default_model.",
            param="model",
        )
    return model


async def session_context(
    runner: TurnRunner, fitter: ContextFitter, request: tpb.SessionContextRequest
) -> tpb.SessionContext:
    """The messages the next call would send before its own input; a compaction the policy
    would make is reported (action "compact"), not made."""
    try:
        loaded = await runner.sessions.LoadContext(
            spb.LoadContextRequest(tenant_id=request.tenant_id, session_id=request.session_id)
        )
    except grpc.aio.AioRpcError as exc:
        raise rpc_failure(exc, what="session") from None
    session = loaded.session
    model = _model(request, session)
    composed = compose(
        gen.GenerateRequest(model=model), list(loaded.context), list(session.instructions), False
    )
    policy = _policy(request, session)
    answer = tpb.SessionContext(model=model, strategy=policy.effective_strategy)
    try:
        fitted = await fitter.fit(request.tenant_id, composed, policy, plan_only=True)
    except RhoneError as exc:
        if exc.failure.detail != "context_length_exceeded":
            raise
        answer.action = "error"
        answer.messages.extend(composed.request.messages)
        return answer
    messages = list(composed.request.messages)
    if fitted.action == "truncate":
        start = composed.context_start
        messages = [*messages[:start], *messages[start + fitted.dropped :]]
    answer.messages.extend(messages)
    answer.estimated_input_tokens = fitted.estimate
    answer.context_window = fitted.window
    answer.input_budget = fitted.budget
    answer.action = fitted.action
    answer.dropped_messages = fitted.dropped
    return answer


async def compact_session(
    runner: TurnRunner, fitter: ContextFitter, request: tpb.SessionContextRequest
) -> tpb.CompactSessionResponse:
    """Summarises every stored turn but the last exchange (from its user message on), and
    records the summary and that exchange as a snapshot turn; the next call starts there."""
    try:
        begun = await runner.sessions.BeginTurn(
            spb.BeginTurnRequest(
                tenant_id=request.tenant_id,
                session_id=request.session_id,
                lease_ms=runner.lease_ms,
            )
        )
    except grpc.aio.AioRpcError as exc:
        raise rpc_failure(exc, what="session") from None
    release = spb.AbortTurnRequest(
        tenant_id=request.tenant_id, session_id=begun.session.id, lease_id=begun.lease_id
    )
    # The summary is a model call, which may take longer than a lease (lease.py).
    lease = LeaseKeeper(
        runner.sessions,
        tenant_id=request.tenant_id,
        session_id=begun.session.id,
        lease_id=begun.lease_id,
        lease_ms=begun.lease_ms,
    )
    try:
        model = _model(request, begun.session)
        context = list(begun.context)
        cuts = [cut for cut in cut_points(context) if 0 < cut < len(context)]
        keep = cuts[-1] if cuts else len(context)
        if keep == 0 or not context:
            await runner.sessions.AbortTurn(release, timeout=10)
            return tpb.CompactSessionResponse(version=begun.session.version)
        compacted = await fitter.compactor.compact(
            request.tenant_id,
            [*begun.session.instructions, *context[:keep]],
            model=model,
        )
        summary = content.Message(
            role=content.ROLE_USER, parts=[summary_part(compacted.summary.text)]
        )
        turn = spb.Turn(
            input=[summary, *context[keep:]],
            model=compacted.summary.model or model,
            usage=compacted.usage,
            status=spb.TURN_STATUS_COMPLETED,
            snapshot=True,
        )
        lease.stop()
        committed = await runner.sessions.CommitTurn(
            spb.CommitTurnRequest(
                tenant_id=request.tenant_id,
                session_id=begun.session.id,
                lease_id=begun.lease_id,
                turn=turn,
            )
        )
    except BaseException as exc:
        try:
            await runner.sessions.AbortTurn(release, timeout=10)
        except grpc.aio.AioRpcError:
            pass  # the lease expires by itself
        if isinstance(exc, grpc.aio.AioRpcError):
            raise rpc_failure(exc, what="session") from None
        raise
    finally:
        lease.stop()
    runner.contexts.drop(begun.session.id)
    return tpb.CompactSessionResponse(turn=committed.turn, version=committed.version)
