"""What a fake upstream answers next: provider-neutral scenarios, one per scripted call.

A test scripts a fake with these (``fake.script(Text(...), Error(429))``) and every fake renders
them in its own wire format, so one scenario proves the same behaviour on every provider.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

StopKind: TypeAlias = Literal["stop", "max_tokens"]


@dataclass(frozen=True)
class Thinking:
    """Reasoning the model shows before answering.

    Rendered as an Anthropic ``thinking`` block (``signature`` sent as ``signature_delta``), an
    OpenAI Responses ``reasoning`` item (``signature`` as ``encrypted_content`` when the request
    asked for ``reasoning.encrypted_content``) and Gemini ``thought`` parts (``signature`` as the
    ``thoughtSignature`` of the first function call, else of the last text part). OpenAI Chat
    has no wire field for reasoning text, so the chat fake drops it, as the real API does.
    """

    chunks: Sequence[str] = ("Let me think.",)
    signature: str = "ZmFrZS10aG91Z2h0LXNpZ25hdHVyZQ=="

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@dataclass(frozen=True)
class ToolCall:
    """One function call; its JSON arguments stream in the given fragments.

    ``call_id`` None lets each fake mint a provider-shaped id (``call_…``, ``toolu_…``); Gemini
    omits ``functionCall.id`` unless one is given, like the Developer API.
    Usable alone as a scenario: a reply holding only this call.
    """

    name: str
    arguments_json_chunks: Sequence[str] = ("{}",)
    call_id: str | None = None

    @property
    def arguments_json(self) -> str:
        return "".join(self.arguments_json_chunks)


@dataclass(frozen=True)
class Text:
    """A successful reply: optional thinking, then text, then tool calls, in that order.

    ``usage`` is (input tokens, output tokens). ``stop="max_tokens"`` renders the provider's
    truncation signal (``length``, ``max_tokens``, ``MAX_TOKENS``, Responses ``incomplete``).
    ``chunk_delay_s`` paces streamed content frames (for tests that need a stream in flight).
    """

    chunks: Sequence[str] = ("Hel", "lo")
    usage: tuple[int, int] = (10, 2)
    tool_calls: Sequence[ToolCall] = ()
    thinking: Thinking | None = None
    stop: StopKind = "stop"
    chunk_delay_s: float = 0.0
    # Input tokens read from the provider's prompt cache (part of usage[0]).
    cached_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@dataclass(frozen=True)
class Error:
    """An HTTP error before any byte of a body: the provider's own envelope for ``status``.

    ``body`` replaces the envelope (a dict is JSON-encoded, bytes/str are sent as they are);
    ``retry_after`` (seconds) becomes the ``retry-after`` header on OpenAI and Anthropic and a
    ``google.rpc.RetryInfo`` detail on Gemini; ``headers`` are added verbatim.
    """

    status: int
    body: dict[str, object] | bytes | str | None = None
    retry_after: float | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def retry_after_header(self) -> str | None:
        """``retry-after`` as written on the wire: whole seconds when whole, else a decimal
        (both SDKs parse floats; sub-second values keep retry tests fast)."""
        if self.retry_after is None:
            return None
        value = float(self.retry_after)
        return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class SlowFirstByte:
    """Wait ``delay_s`` before the status line, then answer ``then``."""

    delay_s: float
    then: Scenario = field(default_factory=Text)


@dataclass(frozen=True)
class CutMidStream:
    """Send ``then`` up to and including its ``after_chunks``-th content frame, then stop.

    Content frames are the ones carrying text, thinking or tool-argument fragments (a Gemini
    chunk counts as one). ``abort=True`` drops the TCP connection without the chunked-encoding
    terminator (clients see a transport error); ``abort=False`` ends the body cleanly but
    without the terminal events (``[DONE]``, ``message_stop``, ``response.completed``,
    ``finishReason``). On a non-stream call half of the JSON body is sent.
    """

    after_chunks: int = 1
    then: Scenario = field(default_factory=Text)
    abort: bool = True


@dataclass(frozen=True)
class StreamError:
    """An error after HTTP 200: ``after_chunks`` content frames of ``then``, then the provider's
    in-stream error (OpenAI ``{"error":…}`` data, Anthropic ``event: error``, Gemini
    ``data: {"error":…}``) and the end of the body. A non-stream call gets ``Error(status)``.
    """

    after_chunks: int = 1
    status: int = 500
    message: str | None = None
    then: Scenario = field(default_factory=Text)


@dataclass(frozen=True)
class Hang:
    """Start the stream, then send a keep-alive every ``interval_s`` until the client leaves.

    ``before_headers=True`` (and any non-stream call) gets nothing at all, not even a status
    line; ``preamble=False`` sends the headers, then only keep-alives (no event at all).
    Either way the fake counts the disconnect in ``fake.disconnects`` and sets
    ``fake.disconnected``: how tests prove cancellation reaches the upstream socket.
    """

    interval_s: float = 0.05
    before_headers: bool = False
    preamble: bool = True


# Not JSON: what a misconfigured proxy or a broken server puts on a 200 event stream.
GARBAGE_EVENTS = b"data: {this is not json\n\ndata: <html><body>upstream</body></html>\n\n"


@dataclass(frozen=True)
class Garbage:
    """A 200 answer that is not the provider's wire format: ``data`` (by default SSE events
    whose data is not JSON) and the end of the body. With ``after_chunks`` set, ``then`` goes
    first up to that many content frames (0: its preamble only); None: ``data`` is all the body.
    A non-stream call gets a 200 with ``data`` as its JSON body."""

    after_chunks: int | None = None
    data: bytes = GARBAGE_EVENTS
    then: Scenario = field(default_factory=Text)


@dataclass(frozen=True)
class RejectKey:
    """The provider's own ``status`` error (401 by default) whose message echoes the
    credential the request carried, as a careless upstream or proxy does
    (``Incorrect API key provided: Bearer sk-...``)."""

    status: int = 401
    template: str = "Incorrect API key provided: {credential}. You can find your API key..."


# A proxy's error page: internal addresses and a traceback a client must never see.
HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body>"
    "<h1>Internal Server Error</h1><p>upstream 10.42.7.19:8080 (inference-pool-3) failed</p>"
    '<pre>Traceback (most recent call last):\n  File "/srv/app/server.py", line 88, in '
    "generate\nRuntimeError: CUDA error: out of memory</pre></body></html>"
)


@dataclass(frozen=True)
class HtmlError:
    """An HTML error page (``text/html``) with ``status``, as a proxy in front of the
    provider answers."""

    status: int = 500
    page: str = HTML_ERROR_PAGE


Scenario: TypeAlias = (
    Text
    | ToolCall
    | Error
    | SlowFirstByte
    | CutMidStream
    | StreamError
    | Hang
    | Garbage
    | RejectKey
    | HtmlError
)


def presented_credential(headers: Mapping[str, str]) -> str:
    """The credential a request carried, as sent (``Bearer ...`` included)."""
    for name in ("authorization", "x-api-key", "x-goog-api-key"):
        if value := headers.get(name):
            return value
    return ""


def echoing(scenario: Scenario, headers: Mapping[str, str]) -> Scenario:
    """``scenario`` with a ``RejectKey`` made the plain ``Error`` echoing this request's key."""
    if isinstance(scenario, RejectKey):
        credential = presented_credential(headers)
        return Error(scenario.status, message=scenario.template.format(credential=credential))
    return scenario


def as_reply(scenario: Text | ToolCall) -> Text:
    """A bare ``ToolCall`` scenario is a reply with no text and that one call."""
    if isinstance(scenario, ToolCall):
        return Text(chunks=(), tool_calls=(scenario,))
    return scenario
