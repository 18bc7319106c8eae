"""OpenAI Chat Completions upstream (POST {base}/chat/completions, Bearer key)."""

from __future__ import annotations

from typing import Any

from rhone.dialects.openai_chat import DIALECT
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.http import HttpConnector
from services.providers.connectors.prompt_cache import with_prompt_cache_key
from services.providers.routing import Deployment


def bearer(deployment: Deployment) -> dict[str, str]:
    """``Authorization: Bearer`` when there is a key; local servers often take none."""
    if not deployment.api_key:
        return {}
    return {"authorization": f"Bearer {deployment.api_key}"}


class OpenAIChatConnector(HttpConnector):
    connector_name = "openai"
    dialect = DIALECT

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        return deployment.base_url.rstrip("/") + "/chat/completions"

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        return bearer(deployment)

    def body(self, deployment: Deployment, request: gen.GenerateRequest) -> dict[str, Any]:
        return with_prompt_cache_key(super().body(deployment, request), deployment, request)
