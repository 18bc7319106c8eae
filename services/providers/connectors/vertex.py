"""Vertex AI Gemini upstream (docs/protocols/gemini.md#vertex-ai), the Gemini wire with Vertex's
paths and auth.

Express mode (``VERTEX_API_KEY``): ``{base}/v1/publishers/google/models/{m}:...`` with
``x-goog-api-key``. Project mode (``VERTEX_PROJECT``, ``VERTEX_LOCATION``):
``{base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:...`` with an OAuth
``Authorization: Bearer`` token. The base is ``https://{location}-aiplatform.googleapis.com``,
``https://aiplatform.googleapis.com`` for ``global`` and express mode, or ``VERTEX_BASE_URL``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rhone.dialects.gemini import VERTEX_DIALECT
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.gemini import GeminiConnector
from services.providers.connectors.http import ClientPool
from services.providers.connectors.vertex_auth import VertexTokens
from services.providers.routing import Deployment

# What Vertex's countTokens takes beside contents (it refuses toolConfig, safetySettings...).
_COUNTED = ("contents", "systemInstruction", "tools")


class VertexConnector(GeminiConnector):
    connector_name = "vertex"
    dialect = VERTEX_DIALECT
    api_version = "v1"

    def __init__(
        self, pool: ClientPool, *, project: str, location: str, tokens: VertexTokens
    ) -> None:
        super().__init__(pool)
        self._project = project
        self._location = location or "global"
        self._tokens = tokens

    def model_path(self, deployment: Deployment) -> str:
        """``publishers/google/models/{m}``; a ``publishers/...`` name is kept as given."""
        model = deployment.model
        if not model.startswith("publishers/"):
            model = "publishers/google/models/" + model
        if not deployment.api_key:  # project mode: the resource lives in a project
            model = f"projects/{self._project}/locations/{self._location}/{model}"
        return quote(model, safe="/")

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        if deployment.api_key:
            return {"x-goog-api-key": deployment.api_key}
        return await self._tokens.headers()

    def count_body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        generate = self.body(deployment, request)
        return {key: generate[key] for key in _COUNTED if key in generate}
