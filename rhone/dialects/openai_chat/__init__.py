"""The OpenAI Chat Completions dialect (``POST /v1/chat/completions``), both directions.

Surface: what an ``openai`` SDK client sends to Rhone and the chunks, bodies and errors it gets
back. Upstream: the body Rhone sends to OpenAI or any OpenAI-compatible server and how it reads
the answer. Wire facts: docs/protocols/openai-chat.md."""

from __future__ import annotations

from rhone.dialects.base import Dialect

from .errors import decode_error, encode_error
from .request_decode import NAME, decode_request
from .request_encode import encode_request
from .response import decode_response, encode_response
from .stream_decode import ChatStreamDecoder, stream_decoder
from .stream_encode import ChatStreamEncoder, stream_encoder

DIALECT = Dialect(
    name=NAME,
    decode_request=decode_request,
    stream_encoder=stream_encoder,
    encode_response=encode_response,
    encode_error=encode_error,
    encode_request=encode_request,
    stream_decoder=stream_decoder,
    decode_response=decode_response,
    decode_error=decode_error,
)

__all__ = [
    "DIALECT",
    "NAME",
    "ChatStreamDecoder",
    "ChatStreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "stream_decoder",
    "stream_encoder",
]
