"""Making a compaction (a summary from the providers service, sealed for the tenant) and
opening the compaction parts a request brings back."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import grpc

from rhone.canonical import StreamAccumulator
from rhone.errors import Code, RhoneError, make_failure
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import providers_pb2_grpc
from services.translator.compaction.sealing import CompactionSeal, Summary
from services.translator.compaction.summary import (
    has_compactions,
    kept_messages,
    open_compactions,
    summary_request,
)


@dataclass(slots=True)
class Compacted:
    """A finished compaction: the user messages it keeps, the sealed compaction part, and what
    the summary cost."""

    kept: list[content.Message]
    part: content.CompactionPart
    summary: Summary
    usage: gen.Usage


class Compactor:
    def __init__(
        self,
        providers: providers_pb2_grpc.ProviderServiceStub,
        seal: CompactionSeal,
        model: str = "",
        timeout_s: float = 300.0,
    ) -> None:
        self.providers = providers
        self.seal = seal
        # The model that writes summaries (RHONE_COMPACTION_MODEL); empty: the call's own.
        self.model = model
        self.timeout_s = timeout_s

    def open(self, tenant_id: str, request: gen.GenerateRequest) -> None:
        """Opens the request's compaction parts into their summaries, in place; a part that
        was not sealed for this tenant is a 400."""
        if has_compactions(request.messages):
            open_compactions(
                request.messages,
                lambda part: self.seal.open(tenant_id, part.encrypted_content).text,
            )

    async def compact(
        self,
        tenant_id: str,
        messages: Iterable[content.Message],
        *,
        model: str,
        home_provider: str = "",
        max_tokens: int = 0,
    ) -> Compacted:
        """Summarises `messages` (compaction parts already opened) with the configured model,
        or `model`, through the providers service like any call; `max_tokens` bounds the
        summary (a session's compaction must leave room in the window)."""
        messages = list(messages)
        request = summary_request(self.model or model, messages, max_tokens)
        request.home_provider = home_provider
        accumulator = StreamAccumulator()
        try:
            async for event in self.providers.Generate(request, timeout=self.timeout_s):
                accumulator.feed(event)
                if event.HasField("failure"):
                    raise RhoneError(event.failure)
        except grpc.aio.AioRpcError as exc:
            raise RhoneError(
                make_failure(
                    Code.ERROR_CODE_UNAVAILABLE,
                    f"The providers service failed while compacting: {exc.details() or ''}",
                )
            ) from None
        response = accumulator.result()
        text = "".join(p.text.text for p in response.message.parts if p.HasField("text")).strip()
        if not text:
            raise RhoneError(
                make_failure(
                    Code.ERROR_CODE_UNAVAILABLE, "The compaction model returned no summary."
                )
            )
        summary = Summary(text=text, model=response.model, created_at=int(time.time()))
        part = content.CompactionPart(
            id="cmp_" + secrets.token_hex(24), encrypted_content=self.seal.seal(tenant_id, summary)
        )
        return Compacted(
            kept=kept_messages(messages), part=part, summary=summary, usage=response.usage
        )
