"""The HTTP edge: one FastAPI app, routes per surface, errors in the surface's own shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import orjson
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from services.facade import observe
from services.facade.config import FacadeSettings
from services.facade.grpc_api.server import start_public_api
from services.facade.routes import (
    admin,
    anthropic,
    google,
    health,
    models,
    openai_chat,
    openai_responses,
    runs,
    session_context,
    sessions,
    usage,
    websocket,
)
from services.facade.state import FacadeState

# In-flight public gRPC calls get as long to finish as uvicorn gives HTTP ones.
GRPC_GRACE_S = 10.0


def create_app(settings: FacadeSettings | None = None) -> FastAPI:
    settings = settings or FacadeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = FacadeState.open(settings)
        app.state.rhone = state
        state.auth.start()
        state.metering.start()
        public_grpc = (
            await start_public_api(settings.grpc_listen, state) if settings.grpc_listen else None
        )
        try:
            yield
        finally:
            if public_grpc is not None:
                await public_grpc.stop(GRPC_GRACE_S)
            await state.close()

    app = FastAPI(
        title="Rhone",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **observe.fastapi_options(),
    )
    observe.install(app)
    app.include_router(health.router)
    # The surfaces' routes are plain Starlette routes (services/facade/routes/plain_routes.py).
    for surface in (openai_chat, openai_responses, anthropic, google):
        app.router.routes.extend(surface.router.routes)
    app.include_router(models.router)
    app.include_router(websocket.router)
    app.include_router(sessions.router)
    app.include_router(admin.router)
    app.include_router(usage.router)
    app.include_router(session_context.router)
    app.include_router(runs.router)

    @app.exception_handler(grpc.aio.AioRpcError)
    async def peer_error(request: Request, exc: grpc.aio.AioRpcError) -> Response:
        # A peer that is down or failing: a 503 the SDKs retry, never a bare 500.
        body = {
            "error": {
                "message": "A Rhone service this request needs is unavailable; retry shortly.",
                "type": "server_error",
                "param": None,
                "code": "service_unavailable",
            }
        }
        return Response(orjson.dumps(body), status_code=503, media_type="application/json")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # Unknown routes and methods: OpenAI's error shape, which every SDK can read.
        body = {
            "error": {
                "message": f"{request.method} {_shown_path(request.url.path)}: {exc.detail}",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
        return Response(
            orjson.dumps(body), status_code=exc.status_code, media_type="application/json"
        )

    return app


def _shown_path(path: str, limit: int = 200) -> str:
    """The path as an error message repeats it: printable, and cut short (a client may send
    kilobytes of it)."""
    printable = "".join(c if c.isprintable() else "?" for c in path[: limit + 1])
    return printable if len(printable) <= limit else printable[:limit] + "..."
