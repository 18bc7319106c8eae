"""The canonical generation stream: building events, folding a stream into a whole response,
and unfolding a whole response into its stream. Pure functions over the generated types."""

from __future__ import annotations

from collections.abc import Iterable

from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

Event = gen.GenerationEvent


def started(id: str, model: str, provider: str) -> Event:
    return Event(started=gen.ResponseStarted(id=id, model=model, provider=provider))


def part_started(index: int, kind: int, tool_call_id: str = "", tool_name: str = "") -> Event:
    return Event(
        part_started=gen.PartStarted(
            index=index,
            kind=kind,  # type: ignore[arg-type]
            tool_call_id=tool_call_id,
            tool_name=tool_name,
        )
    )


def _delta(index: int, field: str, value: str) -> Event:
    """A delta event, one an upstream chunk, its fields set in place: a PartDelta passed to
    GenerationEvent would be built and then copied (2.6 against 1.0 µs)."""
    event = Event()
    delta = event.part_delta
    delta.index = index
    setattr(delta, field, value)
    return event


def text_delta(index: int, text: str) -> Event:
    return _delta(index, "text", text)


def arguments_delta(index: int, fragment: str) -> Event:
    return _delta(index, "arguments", fragment)


def thinking_delta(index: int, text: str) -> Event:
    return _delta(index, "thinking", text)


def signature_delta(index: int, signature: str) -> Event:
    return _delta(index, "signature", signature)


def redacted_delta(index: int, data: str) -> Event:
    return _delta(index, "redacted_data", data)


def part_finished(index: int) -> Event:
    return Event(part_finished=gen.PartFinished(index=index))


def usage(
    input_tokens: int = 0,
    output_tokens: int = 0,
    *,
    cached_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> Event:
    return Event(
        usage=gen.Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_creation_input_tokens=cache_creation_input_tokens,
            reasoning_tokens=reasoning_tokens,
        )
    )


def finished(reason: int, stop_sequence: str = "") -> Event:
    return Event(
        finished=gen.ResponseFinished(reason=reason, stop_sequence=stop_sequence)  # type: ignore[arg-type]
    )


def failed(failure: gen.Failure) -> Event:
    return Event(failure=failure)


class StreamAccumulator:
    """Folds a canonical event stream into a GenerateResponse, the way an SDK accumulator does.

    Used by the translator for non-streaming answers and turn recording, and by tests."""

    def __init__(self) -> None:
        self.response = gen.GenerateResponse(message=content.Message(role=content.ROLE_ASSISTANT))
        self.failure: gen.Failure | None = None
        self._parts: dict[int, content.Part] = {}
        self._order: list[int] = []
        self._pieces: dict[tuple[int, str], list[str]] = {}

    def feed(self, event: Event) -> None:
        kind = event.WhichOneof("event")
        if kind == "started":
            s = event.started
            self.response.id, self.response.model, self.response.provider = (
                s.id,
                s.model,
                s.provider,
            )
        elif kind == "part_started":
            self._start(event.part_started)
        elif kind == "part_delta":
            self._delta(event.part_delta)
        elif kind == "usage":
            self.response.usage.CopyFrom(event.usage)
        elif kind == "finished":
            self.response.finish_reason = event.finished.reason
            self.response.stop_sequence = event.finished.stop_sequence
        elif kind == "failure":
            self.failure = event.failure

    def result(self) -> gen.GenerateResponse:
        self._settle()
        message = self.response.message
        del message.parts[:]
        message.parts.extend(self._parts[i] for i in self._order)
        stamp_origin(message, self.response.provider)
        return self.response

    def _start(self, ps: gen.PartStarted) -> None:
        part = content.Part()
        if ps.kind == gen.PART_KIND_TOOL_CALL:
            part.tool_call.id = ps.tool_call_id
            part.tool_call.name = ps.tool_name
        elif ps.kind == gen.PART_KIND_THINKING:
            part.thinking.SetInParent()
        elif ps.kind == gen.PART_KIND_REDACTED_THINKING:
            part.thinking.redacted = True
        else:
            part.text.SetInParent()
        if ps.index not in self._parts:
            self._order.append(ps.index)
        else:  # a part started again under the same index starts over
            for which in [key for key in self._pieces if key[0] == ps.index]:
                del self._pieces[which]
        self._parts[ps.index] = part

    def _delta(self, delta: gen.PartDelta) -> None:
        part = self._parts.get(delta.index)
        if part is None:
            return
        which = delta.WhichOneof("delta")
        if which is None:
            return
        # Pieces are joined when the result is asked for: appending to a proto string field
        # per token would copy the growing text each time.
        key = (delta.index, which)
        pieces = self._pieces.get(key)
        if pieces is None:
            pieces = self._pieces[key] = []
        pieces.append(getattr(delta, which))

    def _settle(self) -> None:
        for (index, which), pieces in self._pieces.items():
            part = self._parts[index]
            text = "".join(pieces)
            if which == "text":
                part.text.text = text
            elif which == "arguments":
                part.tool_call.arguments = text
            elif which == "thinking":
                part.thinking.text = text
            elif which == "signature":
                if part.HasField("tool_call"):
                    part.tool_call.signature = text
                else:
                    part.thinking.signature = text
            elif which == "redacted_data":
                part.thinking.data = text


def stamp_origin(message: content.Message, provider: str) -> None:
    """Marks the provider-specific signatures in a message with the provider that made them, so
    that a later call on another provider drops them instead of sending them broken."""
    for part in message.parts:
        kind = part.WhichOneof("kind")
        if kind == "thinking" and not part.thinking.origin:
            part.thinking.origin = provider
        elif (
            kind == "tool_call" and part.tool_call.signature and not part.tool_call.signature_origin
        ):
            part.tool_call.signature_origin = provider


def fold_events(events: Iterable[Event]) -> gen.GenerateResponse:
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)
    return acc.result()


def response_events(response: gen.GenerateResponse) -> list[Event]:
    """The canonical stream of a whole response: one start, each part whole, usage, finish."""
    events = [started(response.id, response.model, response.provider)]
    for index, part in enumerate(response.message.parts):
        events.extend(_part_events(index, part))
    if response.HasField("usage"):
        events.append(Event(usage=response.usage))
    events.append(finished(response.finish_reason, response.stop_sequence))
    return events


def _part_events(index: int, part: content.Part) -> list[Event]:
    kind = part.WhichOneof("kind")
    if kind == "text":
        return [
            part_started(index, gen.PART_KIND_TEXT),
            text_delta(index, part.text.text),
            part_finished(index),
        ]
    if kind == "tool_call":
        call = part.tool_call
        events = [part_started(index, gen.PART_KIND_TOOL_CALL, call.id, call.name)]
        if call.arguments:
            events.append(arguments_delta(index, call.arguments))
        if call.signature:
            events.append(signature_delta(index, call.signature))
        return [*events, part_finished(index)]
    if kind == "thinking":
        t = part.thinking
        if t.redacted:
            return [
                part_started(index, gen.PART_KIND_REDACTED_THINKING),
                redacted_delta(index, t.data),
                part_finished(index),
            ]
        events = [part_started(index, gen.PART_KIND_THINKING)]
        if t.text:
            events.append(thinking_delta(index, t.text))
        if t.signature:
            events.append(signature_delta(index, t.signature))
        return [*events, part_finished(index)]
    return []
