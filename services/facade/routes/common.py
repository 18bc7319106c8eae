"""What every surface route does: authenticate, read the body, relay to the translator, and
render any failure on the way in the surface's own error shape."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from starlette.requests import HTTPConnection
from starlette.responses import Response

from rhone.dialects.base import Dialect
from rhone.errors import RhoneError
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
        tenant = await state.auth.tenant_of(request)
        body = await state.relay.read_body(request)
    except RhoneError as exc:
        return error_response(dialect, exc.failure)
    return await state.relay.call(
        dialect=dialect,
        surface=surface,
        method=method,
        tenant_id=tenant,
        body=body,
        params=params,
    )
