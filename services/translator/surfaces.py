"""Which dialect speaks for which public surface, and how each surface counts tokens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rhone.canonical import response_events
from rhone.dialects import anthropic_messages, gemini, openai_responses
from rhone.dialects.base import DecodedCall, Dialect
from rhone.dialects.openai_chat import DIALECT as OPENAI_CHAT
from rhone.dialects.openai_responses.stream_encode import request_echo
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import translator_pb2 as tpb

CountDecoder = Callable[[Mapping[str, Any], Mapping[str, str]], gen.GenerateRequest]
WholeEncoder = Callable[[gen.GenerateResponse, DecodedCall, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SurfaceSpec:
    """What the translator knows of one surface (the proto enum ``Surface`` names which): its
    dialect, how it counts tokens, how it names responses, its home provider."""

    dialect: Dialect
    # The surface's token-counting method, its request decoder and its answer.
    count_method: str = ""
    decode_count: CountDecoder | None = None
    encode_count: Callable[[int], dict[str, Any]] | None = None
    # When the surface names its responses itself (Responses' resp_...), the prefix of the id
    # Rhone gives each turn, so that the id a client sees is the id it can continue from.
    response_prefix: str = ""
    # A whole (non-stream) answer that needs the request too (Responses echoes its settings).
    encode_whole: WholeEncoder | None = None
    # The provider a bare model name of this surface's own family goes to (the Vertex surface
    # calls Vertex, not the Gemini Developer API) when no routing alias claims the name: the
    # providers service decides, as it alone knows the aliases.
    home_provider: str = ""
    # Input items may name stored items by id (Responses' item_reference).
    item_references: bool = False
    # The request settings the surface's response repeats; recorded with the turn so that a
    # stored response reads back whole (Responses' GET /v1/responses/{id}).
    response_settings: Callable[[DecodedCall], dict[str, Any]] | None = None

    def set_home_provider(self, request: gen.GenerateRequest) -> None:
        """Routing itself is the providers service's (it alone knows the aliases)."""
        request.home_provider = self.home_provider

    def encode(
        self, response: gen.GenerateResponse, decoded: DecodedCall, meta: Mapping[str, Any]
    ) -> dict[str, Any]:
        if self.encode_whole is not None:
            return self.encode_whole(response, decoded, meta)
        return self.dialect.encode_response(response, meta)


def encode_whole_response(
    response: gen.GenerateResponse, decoded: DecodedCall, meta: Mapping[str, Any]
) -> dict[str, Any]:
    """The Response object exactly as its stream would end, request echo included."""
    encoder = openai_responses.ResponsesStreamEncoder(decoded, meta)
    for event in response_events(response):
        encoder.encode(event)
    if encoder.final_response is None:
        raise ValueError("the response stream did not finish")
    return encoder.final_response


SURFACE_SPECS: dict[int, SurfaceSpec] = {
    tpb.SURFACE_OPENAI_CHAT: SurfaceSpec(OPENAI_CHAT),
    tpb.SURFACE_OPENAI_RESPONSES: SurfaceSpec(
        openai_responses.DIALECT,
        response_prefix="resp_",
        encode_whole=encode_whole_response,
        item_references=True,
        response_settings=request_echo,
    ),
    tpb.SURFACE_ANTHROPIC_MESSAGES: SurfaceSpec(
        anthropic_messages.DIALECT,
        count_method="count_tokens",
        decode_count=lambda body, params: anthropic_messages.count_tokens_request(body),
        encode_count=anthropic_messages.encode_count_tokens,
    ),
    tpb.SURFACE_GEMINI: SurfaceSpec(
        gemini.DIALECT,
        home_provider="gemini",
        count_method="countTokens",
        decode_count=gemini.count_tokens_request,
        encode_count=gemini.encode_count_tokens,
    ),
    tpb.SURFACE_VERTEX: SurfaceSpec(
        gemini.VERTEX_DIALECT,
        home_provider="vertex",
        count_method="countTokens",
        decode_count=lambda body, params: gemini.count_tokens_request(
            body, {**params, "dialect": gemini.VERTEX_DIALECT.name}
        ),
        encode_count=gemini.encode_count_tokens,
    ),
}


def spec_for(surface: int) -> SurfaceSpec | None:
    return SURFACE_SPECS.get(surface)
