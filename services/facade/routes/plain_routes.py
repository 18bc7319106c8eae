"""Routes served by Starlette's router without FastAPI's per-request machinery.

The surface routes take the Request (and their path parameters) and return a Response: there
is nothing for FastAPI to solve, validate or serialize. Served as FastAPI routes, the
dependency solving, exit stacks and response handling around them were about a tenth of the
facade's CPU on a whole call (docs/performance.md); as Starlette routes they keep what the
app gives every route: its exception handlers (a 405 or a peer's error in Rhone's shape),
middleware and path matching.

`PlainRouter` keeps FastAPI's decorator shape (`@router.post(path)`); an endpoint gets its
path parameters by name, as FastAPI passes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[..., Awaitable[Response]]


class PlainRouter:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def get(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self._route(path, "GET")

    def post(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self._route(path, "POST")

    def delete(self, path: str) -> Callable[[Endpoint], Endpoint]:
        return self._route(path, "DELETE")

    def _route(self, path: str, method: str) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            async def serve(request: Request) -> Response:
                params: dict[str, Any] = request.path_params
                return await endpoint(request, **params) if params else await endpoint(request)

            self.routes.append(Route(path, serve, methods=[method], name=endpoint.__name__))
            return endpoint

        return register
