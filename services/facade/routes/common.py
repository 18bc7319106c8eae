"""What every surface route does: authenticate, read the body, relay to the translator, and
render any failure on the way in the surface's own error shape."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from starlette.requests import HTTPConnection
from starlette.responses import Response

from rhone.dialects.base import Dialect
from rhone.errors import RhoneError
from services.facade.metering import LimitExceeded
from services.facade.relay import error_response
from services.facade.state import FacadeState


def state_of(request: HTTPConnection) -> FacadeState:
    state: FacadeState = request.app.state.rhone
    return state


async def relay_surface_call(
    request: Request,
    *,
    dialect: Dialect,
    surface: int,
    method: str,
    params: Mapping[str, str] | None = None,
) -> Response:
    state = state_of(request)
    try:
        principal = await state.auth.principal_of(request)
        body = await state.relay.read_body(request)
        meter = await state.metering.begin(
            principal, surface=surface, method=method, body=body, params=params
        )
    except LimitExceeded as exc:
        response = error_response(dialect, exc.failure)
        response.headers.update(exc.headers)
        return response
    except RhoneError as exc:
        return error_response(dialect, exc.failure)
    return await state.relay.call(
        dialect=dialect,
        surface=surface,
        method=method,
        tenant_id=principal.tenant_id,
        body=body,
        params=params,
        observer=meter,
    )
