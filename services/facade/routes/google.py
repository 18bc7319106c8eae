"""Gemini Developer API and Vertex AI Gemini routes.

Developer API: /v1beta/models/{model}:{method} and /v1/models/{model}:{method}.
Vertex: /{v1,v1beta1}/publishers/google/models/{model}:{method} (express mode) and
/{v1,v1beta1}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}
(google-genai uses v1beta1 for Vertex by default). Methods: generateContent,
streamGenerateContent (SSE with ?alt=sse, else a streamed JSON array), countTokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from rhone.dialects import gemini
from rhone.dialects.base import Dialect
from rhone.errors import Code, RhoneError
from rhone.v1 import translator_pb2 as tpb
from services.facade.relay import error_response
from services.facade.routes.common import relay_surface_call
from services.facade.routes.plain_routes import PlainRouter

router = PlainRouter()

METHODS = ("generateContent", "streamGenerateContent", "countTokens")


async def _call(request: Request, surface: int, dialect: Dialect, target: str) -> Response:
    model, sep, method = target.rpartition(":")
    if not sep or not model or method not in METHODS:
        failure = RhoneError.of(
            Code.ERROR_CODE_NOT_FOUND,
            f"Method '{method or target}' is not supported. Rhone serves: {', '.join(METHODS)}.",
        ).failure
        return error_response(dialect, failure)
    params = {"model": model, "method": method, "alt": request.query_params.get("alt", "")}
    return await relay_surface_call(
        request, dialect=dialect, surface=surface, method=method, params=params
    )


@router.post("/v1beta/models/{target}")
@router.post("/v1/models/{target}")
async def gemini_call(request: Request, target: str) -> Response:
    return await _call(request, tpb.SURFACE_GEMINI, gemini.DIALECT, target)


@router.post("/{version}/publishers/google/models/{target}")
async def vertex_express_call(request: Request, version: str, target: str) -> Response:
    return await _vertex(request, version, target)


@router.post("/{version}/projects/{project}/locations/{location}/publishers/google/models/{target}")
async def vertex_call(
    request: Request, version: str, project: str, location: str, target: str
) -> Response:
    return await _vertex(request, version, target)


async def _vertex(request: Request, version: str, target: str) -> Response:
    if version not in ("v1", "v1beta1"):
        failure = RhoneError.of(
            Code.ERROR_CODE_NOT_FOUND, f"API version '{version}' is not served."
        ).failure
        return error_response(gemini.VERTEX_DIALECT, failure)
    return await _call(request, tpb.SURFACE_VERTEX, gemini.VERTEX_DIALECT, target)
