"""The OpenAI Responses dialect (`POST /v1/responses`), both directions: what a client of the
Responses API sends and receives, and what Rhone sends to and reads from an upstream that
speaks it. Wire facts: docs/protocols/openai-responses.md."""

from __future__ import annotations

from rhone.dialects.base import Dialect
from rhone.dialects.openai_chat.errors import decode_error, encode_error
from rhone.dialects.openai_responses.messages import NAME
from rhone.dialects.openai_responses.request_decode import decode_request
from rhone.dialects.openai_responses.request_encode import encode_request
from rhone.dialects.openai_responses.response import decode_response
from rhone.dialects.openai_responses.stream_decode import ResponsesStreamDecoder
from rhone.dialects.openai_responses.stream_encode import (
    ResponsesStreamEncoder,
    encode_response,
)

DIALECT = Dialect(
    name=NAME,
    decode_request=decode_request,
    stream_encoder=ResponsesStreamEncoder,
    encode_response=encode_response,
    encode_error=encode_error,
    encode_request=encode_request,
    stream_decoder=ResponsesStreamDecoder,
    decode_response=decode_response,
    decode_error=decode_error,
)

__all__ = [
    "DIALECT",
    "NAME",
    "ResponsesStreamDecoder",
    "ResponsesStreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
]
