"""The local connector: streams the local model's reply word by word as canonical events."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncGenerator

from rhone import canonical as ev
from rhone.errors import Code, make_failure
from rhone.v1 import generation_pb2 as gen
from services.providers.connectors.local_model import count_tokens, reply_to
from services.providers.routing import Deployment


def _words(text: str) -> list[str]:
    """The text as streamed tokens: each word keeps the space before it."""
    pieces = text.split(" ")
    return [pieces[0]] + [" " + piece for piece in pieces[1:]]


class LocalConnector:
    connector_name = "local"

    def __init__(self, token_delay_ms: int = 0, context_window: int = 0) -> None:
        self._delay = token_delay_ms / 1000
        # 0: no limit. Beyond it the prompt is refused, as an upstream refuses one too long.
        self.context_window = context_window

    async def stream(
        self, request: gen.GenerateRequest, deployment: Deployment
    ) -> AsyncGenerator[gen.GenerationEvent, None]:
        reply = reply_to(request)
        if self.context_window and reply.input_tokens > self.context_window:
            yield ev.failed(
                make_failure(
                    Code.ERROR_CODE_INVALID_REQUEST,
                    f"This model's maximum context length is {self.context_window} tokens, "
                    f"but the messages resulted in {reply.input_tokens} tokens.",
                    detail="context_length_exceeded",
                    param="messages",
                )
            )
            return
        yield ev.started("local-" + secrets.token_hex(12), deployment.model, self.connector_name)
        index = 0
        if reply.thinking:
            yield ev.part_started(index, gen.PART_KIND_THINKING)
            for word in _words(reply.thinking):
                yield await self._paced(ev.thinking_delta(index, word))
            yield ev.signature_delta(index, reply.signature)
            yield ev.part_finished(index)
            index += 1
        if reply.text:
            yield ev.part_started(index, gen.PART_KIND_TEXT)
            for word in _words(reply.text):
                yield await self._paced(ev.text_delta(index, word))
            yield ev.part_finished(index)
            index += 1
        for call_id, name, arguments in reply.tool_calls:
            yield ev.part_started(index, gen.PART_KIND_TOOL_CALL, call_id, name)
            for word in _words(arguments):
                yield await self._paced(ev.arguments_delta(index, word))
            yield ev.part_finished(index)
            index += 1
        yield ev.usage(reply.input_tokens, reply.output_tokens)
        yield ev.finished(reply.finish, reply.stop_sequence)

    async def count_tokens(self, request: gen.GenerateRequest, deployment: Deployment) -> int:
        return count_tokens(list(request.messages), list(request.tools))

    async def _paced(self, event: gen.GenerationEvent) -> gen.GenerationEvent:
        if self._delay:
            await asyncio.sleep(self._delay)
        return event
