"""GET /v1/usage: a tenant's own usage (calls, tokens, cost), by model, key, day
or surface."""

from __future__ import annotations

import grpc
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from rhone.dialects.openai_chat import DIALECT
from rhone.errors import Code, RhoneError
from rhone.rpc_errors import failure_of_rpc
from services.facade.relay import error_response
from services.facade.routes.admin import usage_query, usage_view
from services.facade.routes.common import state_of

router = APIRouter()


@router.get("/v1/usage")
async def tenant_usage(request: Request) -> Response:
    state = state_of(request)
    group_by = request.query_params.get("group_by", "")
    try:
        principal = await state.auth.principal_of(request)
        answer = await state.tenancy.QueryUsage(
            usage_query(request, principal.tenant_id), timeout=10
        )
    except RhoneError as exc:
        return error_response(DIALECT, exc.failure)
    except grpc.aio.AioRpcError as exc:
        failure = failure_of_rpc(exc, service="sessions")
        if failure.code == Code.ERROR_CODE_INVALID_REQUEST:
            failure.param = "group_by"  # the one field the store judges
        return error_response(DIALECT, failure)
    return Response(orjson.dumps(usage_view(answer, group_by)), media_type="application/json")
