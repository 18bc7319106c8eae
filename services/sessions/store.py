"""What the session store (sql_store.py, over either backend) shares with its callers: its
exceptions, ids, result types, and the rules of contexts and page cursors.

Sessions and turns are kept as rows; a turn's messages are stored as the serialized canonical
`Turn`, so loading a context is one query over a session's turns since its last snapshot,
whatever the session's length. Keys and tenants are tenancy_store.py's."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from typing import Any

from rhone.ids import is_id
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as pb

DEFAULT_TENANT = "default"


class SessionNotFound(Exception):
    """No such session for this tenant (another tenant's session is "not found" too)."""


class SessionExists(Exception):
    """A new session's id is taken (CommitTurn creating the session)."""


class SessionBusy(Exception):
    """Another call holds the session's lease."""


class LeaseLost(Exception):
    """The lease expired or was taken over before the turn was committed."""


class TurnNotFound(Exception):
    """No such turn in the session."""


class ResponseNotFound(Exception):
    """No turn of this tenant's carries that response id (unknown, deleted, or another's)."""


class StoreUnavailable(Exception):
    """The database cannot be reached (connection lost and not regained, locked, failing).
    Nothing was committed that the caller cannot safely retry; the message is for operators
    only (never a driver's text to a client)."""


class CommitOutcomeUnknown(StoreUnavailable):
    """The connection was lost while a transaction committed: it may or may not have been
    kept, and only a read can tell."""


class InvalidRequest(ValueError):
    """A request the store cannot act on as sent (the message says why)."""


class InvalidCursor(InvalidRequest):
    """A page cursor this store did not write."""


def now_ms() -> int:
    return int(time.time() * 1000)


def new_lease_id() -> str:
    return secrets.token_hex(16)


@dataclass(slots=True)
class Begun:
    session: pb.Session
    lease_id: str
    context: list[content.Message]
    # `context` holds only the turns after the caller's known version.
    is_delta: bool = False


@dataclass(slots=True)
class SessionPage:
    sessions: list[pb.Session]
    # Empty on the last page.
    next_cursor: str


@dataclass(slots=True)
class FoundTurn:
    turn: pb.Turn
    session_id: str
    is_latest: bool


@dataclass(slots=True)
class Loaded:
    session: pb.Session
    context: list[content.Message]


@dataclass(frozen=True, slots=True)
class SessionChanges:
    """What UpdateSession replaces; None leaves a field as it is."""

    metadata: dict[str, Any] | None = None
    instructions: list[content.Message] | None = None
    default_model: str | None = None
    context_policy_json: str | None = None


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


def encode_cursor(created_at_ms: int, session_id: str) -> str:
    """The position after a listed session. Opaque to callers: (created_at_ms, id) is the
    keyset the listing index orders by, so a page costs the same wherever it starts, and
    deleting the session a cursor names does not break the cursor."""
    raw = f"{created_at_ms}:{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        millis, sep, session_id = raw.partition(":")
        # A timestamp a database integer holds, and an id Rhone could have made.
        digits = millis.isascii() and millis.isdigit() and len(millis) <= 15
        if not sep or not digits or not is_id(session_id):
            raise ValueError(cursor)
        return int(millis), session_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(cursor) from None


def context_start_at(turns_newest_first: list[pb.Turn]) -> int:
    """The seq the context of a cut session starts at: its last snapshot turn's, else 0."""
    for turn in turns_newest_first:
        if turn.snapshot:
            return int(turn.seq)
    return 0
