"""The `store: false` responses of one Responses WebSocket connection, kept in memory for the
connection's life so that `previous_response_id` chains work on the socket, as OpenAI's
WebSocket mode does (https://developers.openai.com/api/docs/guides/websocket-mode): never
written to the database, gone with the socket, bounded in count and bytes (least recently used
out first), and evicted when a continuation from it fails."""

from __future__ import annotations

from collections import OrderedDict

from rhone.v1 import translator_pb2 as tpb


class KeptResponses:
    def __init__(self, max_responses: int, max_bytes: int) -> None:
        self.max_responses = max_responses
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, tpb.KeptResponse] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, response_id: object) -> tpb.KeptResponse | None:
        if not isinstance(response_id, str):
            return None
        kept = self._kept.get(response_id)
        if kept is not None:
            self._kept.move_to_end(response_id)
        return kept

    def put(self, kept: tpb.KeptResponse) -> None:
        """Keeps a response; one larger than the whole budget is not kept at all."""
        size = kept.ByteSize()
        if not kept.response_id or self.max_responses <= 0 or size > self.max_bytes:
            return
        self.evict(kept.response_id)
        self._kept[kept.response_id] = kept
        self._sizes[kept.response_id] = size
        self._bytes += size
        while len(self._kept) > self.max_responses or self._bytes > self.max_bytes:
            self.evict(next(iter(self._kept)))

    def evict(self, response_id: object) -> None:
        if isinstance(response_id, str) and self._kept.pop(response_id, None) is not None:
            self._bytes -= self._sizes.pop(response_id)
