"""OpenAI Chat Completions upstream (and any server that speaks it)."""

from __future__ import annotations

from rhone.dialects.openai_chat import DIALECT
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.http import HttpConnector
from services.providers.routing import Deployment


class OpenAIChatConnector(HttpConnector):
    provider = "openai"
    dialect = DIALECT

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        return deployment.base_url.rstrip("/") + "/chat/completions"

    def headers(self, deployment: Deployment) -> dict[str, str]:
        if not deployment.api_key:
            return {}
        return {"authorization": f"Bearer {deployment.api_key}"}
