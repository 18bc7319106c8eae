"""The translator's copy of recent sessions' contexts, keyed by session version.

A session's stored context only grows between snapshots, so a translator that holds it as of
version v asks the sessions service only for the turns after v (BeginTurn's known_version)
and appends them; after a commit it appends the turn it wrote itself, so a continuing call
reads and parses no old turn at all. Another replica's commits are just turns after v; a
snapshot (compaction, a stateless call) restarts the context, and the sessions service then
sends it whole. Bounded: the least recently used sessions are forgotten first."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from rhone.token_estimate import message_size
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as spb


@dataclass(slots=True)
class CachedContext:
    """A session's stored context as of `version`, with each message's estimated size
    (rhone/token_estimate.py), so that neither is recomputed on the next call."""

    version: int
    messages: list[content.Message]
    sizes: list[int]

    def extended(self, version: int, messages: list[content.Message]) -> CachedContext:
        # The new messages are copied, together, into a list of the cache's own: a message
        # parsed from a response keeps all of that response in memory (upb allocates whatever
        # one parse makes in one arena), and a CommitTurnResponse carries the turn's response
        # settings too (a Responses call's instructions and tools: often tens of KB a turn).
        own = list(spb.MessageList(messages=messages).messages) if messages else []
        return CachedContext(
            version,
            [*self.messages, *own],
            [*self.sizes, *(message_size(m) for m in own)],
        )

    @classmethod
    def of(cls, version: int, messages: list[content.Message]) -> CachedContext:
        return cls(version, list(messages), [message_size(m) for m in messages])


class ContextCache:
    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._entries: OrderedDict[str, CachedContext] = OrderedDict()

    def get(self, session_id: str) -> CachedContext | None:
        entry = self._entries.get(session_id)
        if entry is not None:
            self._entries.move_to_end(session_id)
        return entry

    def put(self, session_id: str, entry: CachedContext) -> None:
        if self.max_sessions <= 0 or not session_id:
            return
        self._entries[session_id] = entry
        self._entries.move_to_end(session_id)
        while len(self._entries) > self.max_sessions:
            self._entries.popitem(last=False)

    def drop(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)
