"""The translator's copy of recent sessions' contexts, keyed by session version.

A session's stored context only grows between snapshots, so a translator that holds it as of
version v asks the sessions service only for the turns after v (BeginTurn's known_version)
and appends them; after a commit it appends the turn it wrote itself, so a continuing call
reads and parses no old turn at all. Another replica's commits are just turns after v; a
snapshot (compaction, a stateless call) restarts the context, and the sessions service then
sends it whole.

Bounded twice: by sessions, and by the memory their contexts hold, estimated (one context can
be a model's whole window: megabytes). The least recently used sessions are forgotten first,
until both bounds hold; a context larger than the whole budget is not kept at all."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from rhone.observability import metrics
from rhone.token_estimate import message_size
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as spb
from services.translator.config import TranslatorSettings

# What a cached message holds in memory: its bytes as protobuf encodes them (upb keeps a
# message's strings and bytes as that UTF-8, so text of three-byte characters counts three
# bytes a character, an image its bytes), and about 760 bytes a message and 120 a part
# whatever their length (their upb structures; the message's Python object). Measured with
# bench/context_cache_memory.py (the process's resident memory before and after caching turns
# as turns.py does): docs/performance.md, "Memory".
BYTES_PER_MESSAGE = 760
BYTES_PER_PART = 120


def held_bytes(messages: list[content.Message]) -> int:
    """The memory `messages` hold, estimated."""
    return sum(
        message.ByteSize() + BYTES_PER_MESSAGE + BYTES_PER_PART * len(message.parts)
        for message in messages
    )


@dataclass(slots=True, frozen=True)
class CachedContext:
    """A session's stored context as of `version`, with each message's estimated size
    (rhone/token_estimate.py), so that neither is recomputed on the next call, and the memory
    it holds (`held`, estimated), which the cache sums. Never changed once made: a new turn
    makes a new one (`extended`), so the cache's sum stays exact."""

    version: int
    messages: list[content.Message]
    sizes: list[int]
    held: int

    def extended(self, version: int, messages: list[content.Message]) -> CachedContext:
        # The new messages are copied, together, into a list of the cache's own: a message
        # parsed from a response keeps all of that response in memory (upb allocates whatever
        # one parse makes in one arena), and a CommitTurnResponse carries the turn's response
        # settings too (a Responses call's instructions and tools: often tens of KB a turn).
        own = list(spb.MessageList(messages=messages).messages) if messages else []
        sizes = [message_size(m) for m in own]
        return CachedContext(
            version,
            [*self.messages, *own],
            [*self.sizes, *sizes],
            self.held + held_bytes(own),
        )

    @classmethod
    def of(cls, version: int, messages: list[content.Message]) -> CachedContext:
        sizes = [message_size(m) for m in messages]
        return cls(version, list(messages), sizes, held_bytes(messages))


class ContextCache:
    def __init__(self, max_sessions: int, max_bytes: int) -> None:
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        # The entries' `held`, summed as they come and go (eviction never sums them again).
        self.held = 0
        self._entries: OrderedDict[str, CachedContext] = OrderedDict()

    def get(self, session_id: str) -> CachedContext | None:
        entry = self._entries.get(session_id)
        if entry is not None:
            self._entries.move_to_end(session_id)
        return entry

    def put(self, session_id: str, entry: CachedContext) -> None:
        if self.max_sessions <= 0 or not session_id:
            return
        self.drop(session_id)
        if entry.held > self.max_bytes:
            return  # it would push out every other session, and still not fit
        self._entries[session_id] = entry
        self.held += entry.held
        while len(self._entries) > self.max_sessions or self.held > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self.held -= oldest.held

    def drop(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            self.held -= entry.held

    def __len__(self) -> int:
        return len(self._entries)


def open_context_cache(settings: TranslatorSettings) -> ContextCache:
    """The cache the settings ask for, which /metrics reads at each scrape."""
    cache = ContextCache(settings.context_cache_sessions, settings.context_cache_mb << 20)
    metrics.CONTEXT_CACHE_BYTES.set_function(lambda: cache.held)
    metrics.CONTEXT_CACHE_SESSIONS.set_function(lambda: len(cache))
    return cache
