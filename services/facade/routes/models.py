"""Model listings, in the shape of the SDK that asks.

`GET /v1/models` is OpenAI's and Anthropic's path, and google-genai lists Gemini models there
too; the headers tell them apart: `anthropic-version` (the Anthropic SDK always sends it),
`x-goog-api-client`/`x-goog-api-key`/`?key=` (google-genai), else OpenAI.

A key sees only the models it may call (its and its tenant's `models`, docs/tenants.md); one it
may not is answered as an unknown one, with the 404 model_not_found a call naming it gets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from rhone.dialects import anthropic_messages, gemini
from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI
from rhone.errors import RhoneError
from rhone.v1 import providers_pb2 as ppb
from services.facade.metering import model_not_found
from services.facade.relay import error_response
from services.facade.routes.common import state_of

router = APIRouter()

GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
Model = ppb.ModelInfo


def _openai(model: Model) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


def _anthropic(model: Model) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(model.created))
    return {"type": "model", "id": model.id, "display_name": model.id, "created_at": created}


def _google(model: Model, prefix: str = "models/") -> dict[str, Any]:
    return {
        "name": f"{prefix}{model.id}",
        "baseModelId": model.id,
        "version": "rhone",
        "displayName": model.id,
        "description": f"{model.id} through Rhone ({model.provider})",
        "supportedGenerationMethods": GENERATION_METHODS,
    }


def _vertex(model: Model) -> dict[str, Any]:
    return _google(model, prefix="publishers/google/models/")


def _anthropic_page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": items,
        "has_more": False,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


class ModelListing:
    def __init__(
        self,
        dialect: Dialect,
        describe: Callable[[Model], dict[str, Any]],
        page: Callable[[list[dict[str, Any]]], dict[str, Any]],
    ) -> None:
        self.dialect, self.describe, self.page = dialect, describe, page


OPENAI_LISTING = ModelListing(OPENAI, _openai, lambda items: {"object": "list", "data": items})
ANTHROPIC_LISTING = ModelListing(anthropic_messages.DIALECT, _anthropic, _anthropic_page)
GEMINI_LISTING = ModelListing(gemini.DIALECT, _google, lambda items: {"models": items})
VERTEX_LISTING = ModelListing(
    gemini.VERTEX_DIALECT, _vertex, lambda items: {"publisherModels": items}
)


def listing_for(request: Request) -> ModelListing:
    headers = request.headers
    if "anthropic-version" in headers:
        return ANTHROPIC_LISTING
    if (
        "x-goog-api-client" in headers
        or "x-goog-api-key" in headers
        or "key" in request.query_params
    ):
        return GEMINI_LISTING
    return OPENAI_LISTING


async def _listed(request: Request) -> list[Model]:
    """The models the caller's key may call."""
    state = state_of(request)
    principal = await state.auth.principal_of(request)
    listed = await state.translator.ListModels(ppb.ListModelsRequest(), timeout=10)
    return [model for model in listed.models if principal.may_use(model.id)]


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def _list(request: Request, listing: ModelListing) -> Response:
    try:
        models = await _listed(request)
    except RhoneError as exc:
        return error_response(listing.dialect, exc.failure)
    return _json(listing.page([listing.describe(m) for m in models]))


async def _get(request: Request, listing: ModelListing, model_id: str) -> Response:
    model_id = model_id.removeprefix("models/")
    try:
        found = next((m for m in await _listed(request) if m.id == model_id), None)
        if found is None:
            raise RhoneError(model_not_found(model_id))
    except RhoneError as exc:
        return error_response(listing.dialect, exc.failure)
    return _json(listing.describe(found))


@router.get("/v1/models")
async def list_models(request: Request) -> Response:
    return await _list(request, listing_for(request))


@router.get("/v1beta/models")
async def list_gemini_models(request: Request) -> Response:
    return await _list(request, GEMINI_LISTING)


@router.get("/{version}/publishers/google/models")
@router.get("/{version}/projects/{project}/locations/{location}/publishers/google/models")
async def list_vertex_models(request: Request) -> Response:
    return await _list(request, VERTEX_LISTING)


@router.get("/v1/models/{model_id}")
async def get_model(request: Request, model_id: str) -> Response:
    return await _get(request, listing_for(request), model_id)


@router.get("/v1beta/models/{model_id}")
async def get_gemini_model(request: Request, model_id: str) -> Response:
    return await _get(request, GEMINI_LISTING, model_id)


@router.get("/{version}/publishers/google/models/{model_id}")
@router.get(
    "/{version}/projects/{project}/locations/{location}/publishers/google/models/{model_id}"
)
async def get_vertex_model(request: Request, model_id: str) -> Response:
    return await _get(request, VERTEX_LISTING, model_id)
