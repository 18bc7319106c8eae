"""OpenAI's prompt caching key: calls that share a prefix (one Rhone session's) carry the same
`prompt_cache_key`, which OpenAI uses to route them to the same cache
(https://platform.openai.com/docs/guides/prompt-caching). Sent to OpenAI itself only: an
OpenAI-compatible server may refuse a field it does not know. A key the client sent itself
(in the request's extras) wins."""

from __future__ import annotations

from typing import Any

from rhone.v1 import generation_pb2 as gen
from services.providers.routing import Deployment


def with_prompt_cache_key(
    body: dict[str, Any], deployment: Deployment, request: gen.GenerateRequest
) -> dict[str, Any]:
    if deployment.provider == "openai" and request.cache_key:
        body.setdefault("prompt_cache_key", request.cache_key)
    return body
