"""Anthropic Messages upstream: POST {base}/v1/messages with ``x-api-key`` and
``anthropic-version`` (docs/protocols/anthropic-messages.md#headers, docs/protocols/upstreams.md),
and token counting through ``/v1/messages/count_tokens``
(docs/protocols/anthropic-messages.md#other-routes)."""

from __future__ import annotations

from rhone.dialects.anthropic_messages import DIALECT
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.http import HttpConnector, count_of
from services.providers.routing import Deployment

ANTHROPIC_VERSION = "2023-06-01"

# What count_tokens takes of a Messages body (it refuses max_tokens, stream, sampling...).
_COUNTED = ("model", "system", "messages", "tools", "tool_choice", "thinking", "output_config")


class AnthropicConnector(HttpConnector):
    connector_name = "anthropic"
    dialect = DIALECT

    def url(self, deployment: Deployment, request: gen.GenerateRequest) -> str:
        return deployment.base_url.rstrip("/") + "/v1/messages"

    async def headers(self, deployment: Deployment) -> dict[str, str]:
        return {"x-api-key": deployment.api_key, "anthropic-version": ANTHROPIC_VERSION}

    async def count_tokens(self, request: gen.GenerateRequest, deployment: Deployment) -> int:
        body = self.body(deployment, request)
        counted = {key: body[key] for key in _COUNTED if key in body}
        url = deployment.base_url.rstrip("/") + "/v1/messages/count_tokens"
        answer = await self.post_json(deployment, url, counted)
        return count_of(answer, "input_tokens", deployment)
