"""Gemini Developer API upstream: POST
{base}/v1beta/models/{model}:streamGenerateContent?alt=sse with the key in ``x-goog-api-key``
(never ``?key=``: a key in a URL ends up in logs; docs/protocols/upstreams.md), and
``:countTokens``.

The model travels in the URL, not the body; the dialect still reads it (thinking levels
depend on the model generation), so the request is encoded with the deployment's model."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rhone.dialects.gemini import DIALECT
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.http import HttpConnector, count_of
from services.providers.routing import Deployment


def with_model(request: gen.GenerateRequest, model: str) -> gen.GenerateRequest:
    """The request as the upstream model sees it (a copy only when an alias renamed it)."""
    if request.model == model:
        return request
    renamed = gen.GenerateRequest()
    renamed.CopyFrom(request)
    renamed.model = model
    return renamed


class GeminiConnector(HttpConnector):
    connector_name = "gemini"
    dialect = DIALECT
    api_version = "v1beta"

    def model_path(self, deployment: Deployment) -> str:
        """``models/{m}``; ``models/...`` and ``tunedModels/...`` names are kept as given."""
        model = deployment.model
        if not model.startswith(("models/", "tunedModels/")):
            model = "models/" + model
        return quote(model, safe="/")

    def resource(self, deployment: Deployment) -> str:
        base = deployment.base_url.rstrip("/")
        return f"{base}/{self.api_version}/{self.model_path(deployment)}"

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        if request.whole:
            return self.resource(deployment) + ":generateContent"
        return self.resource(deployment) + ":streamGenerateContent?alt=sse"

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        return {"x-goog-api-key": deployment.api_key}

    def body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        return self.dialect.encode_request(with_model(request, deployment.model), not request.whole)

    def count_body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        """The Developer API counts a whole request (system prompt and tools included) only in
        the ``generateContentRequest`` form, which needs its own ``model``."""
        generate = self.body(deployment, request)
        return {"generateContentRequest": {"model": self.model_path(deployment), **generate}}

    async def count_tokens(self, request: gen.GenerateRequest, deployment: Deployment) -> int:
        url = self.resource(deployment) + ":countTokens"
        answer = await self.post_json(deployment, url, self.count_body(deployment, request))
        return count_of(answer, "totalTokens", deployment)
