"""The session store's interface and the rules every backend shares.

Sessions, turns and keys are kept as rows; a turn's messages are stored as the serialized
canonical `Turn`, so loading a context is one query over a session's turns since its last
snapshot, whatever the session's length."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as pb

DEFAULT_TENANT = "default"


class SessionNotFound(Exception):
    """No such session for this tenant (another tenant's session is "not found" too)."""


class SessionBusy(Exception):
    """Another call holds the session's lease."""


class LeaseLost(Exception):
    """The lease expired or was taken over before the turn was committed."""


class TurnNotFound(Exception):
    pass


def now_ms() -> int:
    return int(time.time() * 1000)


def new_session_id() -> str:
    return "sess_" + secrets.token_hex(16)  # 128 random bits


def new_turn_id() -> str:
    return "turn_" + secrets.token_hex(12)


def new_lease_id() -> str:
    return secrets.token_hex(16)


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(slots=True)
class Begun:
    session: pb.Session
    lease_id: str
    context: list[content.Message]


@dataclass(slots=True)
class SessionPage:
    sessions: list[pb.Session]
    next_cursor: str


class SessionStore(Protocol):
    """One interface, two backends (SQLite embedded, PostgreSQL at scale), one test suite."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put_api_key(self, tenant_id: str, api_key: str) -> None: ...

    async def resolve_api_key(self, api_key: str) -> str | None: ...

    async def create_session(
        self,
        tenant_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        instructions: list[content.Message] | None = None,
    ) -> pb.Session: ...

    async def get_session(self, tenant_id: str, session_id: str) -> pb.Session: ...

    async def begin_turn(self, tenant_id: str, session_id: str, lease_ms: int) -> Begun: ...

    async def commit_turn(
        self,
        tenant_id: str,
        session_id: str,
        lease_id: str,
        turn: pb.Turn,
        instructions: list[content.Message] | None,
    ) -> tuple[pb.Turn, int]: ...

    async def abort_turn(self, tenant_id: str, session_id: str, lease_id: str) -> None: ...

    async def list_turns(self, tenant_id: str, session_id: str) -> list[pb.Turn]: ...


def context_of(turns: list[pb.Turn]) -> list[content.Message]:
    """The replayable transcript of a session's turns (already cut at the last snapshot)."""
    messages: list[content.Message] = []
    for turn in turns:
        messages.extend(turn.input)
        if turn.HasField("output") and turn.output.parts:
            messages.append(turn.output)
    return messages


def encode_instructions(instructions: list[content.Message] | None) -> bytes:
    holder = pb.Session(instructions=instructions or [])
    return holder.SerializeToString()


def decode_instructions(blob: bytes | None) -> list[content.Message]:
    if not blob:
        return []
    holder = pb.Session()
    holder.ParseFromString(blob)
    return list(holder.instructions)
