"""The Gemini dialect: the Gemini Developer API and Vertex AI Gemini, which share one wire format.

``DIALECT`` ("google.gemini") and ``VERTEX_DIALECT`` ("google.vertex") are the same codec;
Vertex also puts a role on ``systemInstruction`` and ``createTime`` on every response. What
they decode names its provider ``gemini`` or ``vertex``. The model travels in the URL, not the
body: the surface passes it as ``params["model"]`` and the connector builds upstream URLs.
Streaming is chosen by the method (``params["method"] == "streamGenerateContent"``), not the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from rhone.dialects.base import DecodedCall, Dialect
from rhone.dialects.gemini import errors, fields, request_decode, request_encode, response
from rhone.dialects.gemini.stream_decode import StreamDecoder
from rhone.dialects.gemini.stream_encode import StreamEncoder
from rhone.errors import RhoneError
from rhone.v1 import generation_pb2 as gen

__all__ = [
    "DIALECT",
    "STREAM_METHOD",
    "VERTEX_DIALECT",
    "count_tokens_request",
    "encode_count_tokens",
]


# The method that streams its answer; every other answers whole.
STREAM_METHOD = "streamGenerateContent"


def _decode_request(
    flavor: fields.Flavor, body: Mapping[str, Any], params: Mapping[str, str]
) -> DecodedCall:
    request = request_decode.decode_generate_request(flavor, body, params.get("model", ""))
    return DecodedCall(request=request, stream=params.get("method") == STREAM_METHOD)


def _stream_encoder(
    flavor: fields.Flavor, decoded: DecodedCall, rhone_meta: Mapping[str, Any]
) -> StreamEncoder:
    return StreamEncoder(flavor, decoded, rhone_meta)


def _dialect(flavor: fields.Flavor) -> Dialect:
    return Dialect(
        name=flavor.name,
        decode_request=partial(_decode_request, flavor),
        stream_encoder=partial(_stream_encoder, flavor),
        encode_response=partial(response.encode_response, flavor),
        encode_error=errors.encode_error,
        encode_request=partial(request_encode.encode_request, flavor),
        stream_decoder=partial(StreamDecoder, flavor.provider),
        decode_response=partial(response.decode_response, flavor),
        decode_error=errors.decode_error,
    )


DIALECT = _dialect(fields.GEMINI)
VERTEX_DIALECT = _dialect(fields.VERTEX)


def count_tokens_request(body: Mapping[str, Any], params: Mapping[str, str]) -> gen.GenerateRequest:
    """The request a ``:countTokens`` body counts: ``{"contents": [...]}`` (Vertex also takes
    systemInstruction, tools and generationConfig beside it) or
    ``{"generateContentRequest": {...}}`` (whose own ``model`` counts only when the URL has none).
    ``params["dialect"]`` naming ``VERTEX_DIALECT`` marks extras as Vertex's."""
    flavor = fields.VERTEX if params.get("dialect") == fields.VERTEX.name else fields.GEMINI
    top = fields.message(body, "")
    if "generateContentRequest" in top:
        field = "generateContentRequest"
        inner = fields.message(top[field], field)
        try:
            return request_decode.decode_generate_request(flavor, inner, params.get("model", ""))
        except RhoneError as exc:
            param = fields.child(field, exc.failure.param)
            raise RhoneError.invalid(f"{field}: {exc.failure.message}", param=param) from None
    return request_decode.decode_generate_request(
        flavor, top, params.get("model", ""), require_contents=False
    )


def encode_count_tokens(n: int) -> dict[str, Any]:
    return {"totalTokens": n}
