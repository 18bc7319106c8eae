"""OpenAI Responses upstream (POST {base}/responses), for models the routing config marks
``api: responses``: OpenAI itself or a named OpenAI-compatible server that speaks it.

The dialect sends ``store: false`` and asks for ``reasoning.encrypted_content``, so reasoning
continues across turns from Rhone's session, not from state kept at OpenAI."""

from __future__ import annotations

from typing import Any

from rhone.dialects.openai_responses import DIALECT
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.http import HttpConnector
from services.providers.connectors.openai import bearer
from services.providers.connectors.prompt_cache import with_prompt_cache_key
from services.providers.routing import Deployment


class OpenAIResponsesConnector(HttpConnector):
    connector_name = "openai-responses"
    dialect = DIALECT

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        return deployment.base_url.rstrip("/") + "/responses"

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        return bearer(deployment)

    def body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        return with_prompt_cache_key(super().body(deployment, request), deployment, request)
