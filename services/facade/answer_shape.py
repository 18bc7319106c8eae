"""Whether a call's answer is written whole, told before the call is made.

The facade then asks the translator with the unary `CallWhole`, which costs a third less CPU
than the streamed `Call` of one message (bench/grpc_floor.py). A client asks for a stream in
the body's `stream` field (OpenAI, Anthropic) or with the method (Gemini and Vertex's
streamGenerateContent). The body is only parsed when it could name `stream` at all (the
bytes `"stream"`, or a `\\u` escape that could spell it) and is small: parsing a large body
twice would cost more than the call saves, so such a call is streamed as before.

Getting it wrong never changes what the client reads, only when: a stream asked through
`CallWhole` comes back whole, its bytes unchanged, and a whole answer through `Call` is
one message like any other."""

from __future__ import annotations

import orjson

from rhone.dialects.gemini import STREAM_METHOD

PEEK_LIMIT = 64 * 1024


def answers_whole(method: str, body: bytes) -> bool:
    if method == STREAM_METHOD:
        return False
    if b'"stream"' not in body and b"\\u" not in body:
        return True
    if len(body) > PEEK_LIMIT:
        return False
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return True  # refused, with a whole error answer
    return not isinstance(value, dict) or value.get("stream") in (None, False)
