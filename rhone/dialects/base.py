"""What a dialect is: one codec per wire format, used in both directions.

Surface direction (the translator): ``decode_request`` turns what a client sent into a
``GenerateRequest``; ``stream_encoder``/``encode_response``/``encode_error`` turn the canonical
stream back into the surface's own frames, bodies and error bodies.

Upstream direction (the providers service): ``encode_request`` builds the body a provider
expects; ``stream_decoder``/``decode_response``/``decode_error`` read what it answers.

Conventions every dialect keeps, so that any surface can reach any model:

- System and developer prompts are ROLE_SYSTEM / ROLE_DEVELOPER messages at the front of
  ``messages``. A wire format with a separate field (Anthropic ``system``, Gemini
  ``systemInstruction``) decodes it into one leading ROLE_SYSTEM message of text parts, and
  encodes every leading SYSTEM/DEVELOPER message's text into that field.
- Tool results travel in ROLE_TOOL messages holding only ``tool_result`` parts.
- Tool-call arguments are JSON text, kept verbatim where the wire format carries text (OpenAI);
  wire formats that carry objects (Anthropic ``input``, Gemini ``args``) dump them compactly
  with orjson on decode and parse them on encode.
- Usage: ``input_tokens`` is the whole prompt, cached and cache-creation tokens included
  (those are also counted in their own fields); ``output_tokens`` includes reasoning tokens.
- A stream is: started, then per part (indexes 0, 1, 2... in order) part_started, deltas,
  part_finished; then at most one usage; then finished. A failure may end it at any point.
  Stream encoders receive exactly that order; stream decoders must produce it.
- Nothing a client sent is silently dropped: fields with no canonical home go to
  ``GenerateRequest.extras`` with ``extras_dialect`` set to the dialect's name, and are sent on
  only to a provider of that same dialect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rhone.sse import StreamItem
from rhone.v1 import generation_pb2 as gen


@dataclass(slots=True)
class DecodedCall:
    """A client request, decoded: the canonical request plus how the client wants the answer."""

    request: gen.GenerateRequest
    stream: bool = False
    # Surface-specific options the encoder needs (e.g. chat's include_usage).
    options: dict[str, Any] = field(default_factory=dict)


class StreamEncoder(Protocol):
    """Turns canonical events into the surface's stream items, keeping whatever state the
    surface's stream needs (ids, indexes, open blocks)."""

    def encode(self, event: gen.GenerationEvent) -> list[StreamItem]: ...

    def close(self) -> list[StreamItem]:
        """Items after the last event (e.g. chat's ``data: [DONE]``)."""
        ...


class StreamDecoder(Protocol):
    """Turns an upstream's stream payloads into canonical events."""

    def feed(self, event: str | None, data: Mapping[str, Any]) -> list[gen.GenerationEvent]: ...

    def close(self) -> list[gen.GenerationEvent]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # surface direction
    decode_request: Callable[[Mapping[str, Any], Mapping[str, str]], DecodedCall]
    stream_encoder: Callable[[DecodedCall, Mapping[str, Any]], StreamEncoder]
    encode_response: Callable[[gen.GenerateResponse, Mapping[str, Any]], dict[str, Any]]
    encode_error: Callable[[gen.Failure], tuple[int, dict[str, Any]]]
    # upstream direction
    encode_request: Callable[[gen.GenerateRequest, bool], dict[str, Any]]
    stream_decoder: Callable[[], StreamDecoder]
    decode_response: Callable[[Mapping[str, Any]], gen.GenerateResponse]
    decode_error: Callable[[int, bytes], gen.Failure]
