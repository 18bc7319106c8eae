"""Which dialect speaks for which public surface, and how each surface counts tokens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rhone.dialects import anthropic_messages, gemini
from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI_CHAT
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb

CountDecoder = Callable[[Mapping[str, Any], Mapping[str, str]], gen.GenerateRequest]


@dataclass(frozen=True, slots=True)
class Surface:
    dialect: Dialect
    # The surface's token-counting method, its request decoder and its answer.
    count_method: str = ""
    decode_count: CountDecoder | None = None
    encode_count: Callable[[int], dict[str, Any]] | None = None


SURFACES: dict[int, Surface] = {
    tpb.SURFACE_OPENAI_CHAT: Surface(OPENAI_CHAT),
    tpb.SURFACE_ANTHROPIC_MESSAGES: Surface(
        anthropic_messages.DIALECT,
        count_method="count_tokens",
        decode_count=lambda body, params: anthropic_messages.count_tokens_request(body),
        encode_count=anthropic_messages.encode_count_tokens,
    ),
    tpb.SURFACE_GEMINI: Surface(
        gemini.DIALECT,
        count_method="countTokens",
        decode_count=gemini.count_tokens_request,
        encode_count=gemini.encode_count_tokens,
    ),
    tpb.SURFACE_VERTEX: Surface(
        gemini.VERTEX_DIALECT,
        count_method="countTokens",
        decode_count=gemini.count_tokens_request,
        encode_count=gemini.encode_count_tokens,
    ),
}


def surface_for(surface: int) -> Surface | None:
    return SURFACES.get(surface)
