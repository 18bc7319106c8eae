"""The Anthropic Messages dialect (``POST /v1/messages``), both directions.

Surface: what Anthropic SDK clients send Rhone and the message, SSE events and error bodies
they get back. Upstream: what Rhone sends api.anthropic.com and how it reads the answer.
Wire facts: docs/protocols/anthropic-messages.md. ``count_tokens_request``/``encode_count_tokens``
serve ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from rhone.dialects.base import Dialect

from .errors import decode_error, encode_error
from .request_decode import NAME, count_tokens_request, decode_request, encode_count_tokens
from .request_encode import DEFAULT_MAX_TOKENS, encode_request
from .response import decode_response, encode_response
from .stream_decode import MessagesStreamDecoder, stream_decoder
from .stream_encode import MessagesStreamEncoder, stream_encoder

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
    "DEFAULT_MAX_TOKENS",
    "DIALECT",
    "NAME",
    "MessagesStreamDecoder",
    "MessagesStreamEncoder",
    "count_tokens_request",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_count_tokens",
    "encode_error",
    "encode_request",
    "encode_response",
    "stream_decoder",
    "stream_encoder",
]
