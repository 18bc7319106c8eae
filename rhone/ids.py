"""What an id a client sends can look like, checked where it enters Rhone; and how Rhone makes
a session's id (the sessions service for a session it creates, the translator for the one a
first call's commit creates: services/translator/turns.py).

Session, turn and response ids, and the opaque pagination cursors, are ASCII tokens Rhone
made (`sess_` + hex, `turn_` + hex, `resp_` + hex, base64url cursors). A value that cannot be
one (a NUL, other control or non-ASCII characters, thousands of characters) is answered at the
edge as "not found" or "invalid" in the surface's own shape, and never reaches a database,
whose errors about it (an invalid byte sequence, an index row too large) would be a 500."""

from __future__ import annotations

import re
import secrets
import time

from rhone.errors import Code, RhoneError

MAX_ID_LENGTH = 128
# A cursor holds a timestamp and an id (services/sessions/store.py encode_cursor).
MAX_CURSOR_LENGTH = 256

# Letters, digits, `_`, `-` and `.`: every id Rhone makes, and the upstream response ids a
# turn may keep (`chatcmpl-...`, `msg_...`).
_ID = re.compile(r"[A-Za-z0-9_.\-]+")
_CURSOR = re.compile(r"[A-Za-z0-9_\-]+=*")

ID_RULE = f"ids are 1 to {MAX_ID_LENGTH} letters, digits, '_', '-' or '.'"


def is_id(value: str) -> bool:
    return 0 < len(value) <= MAX_ID_LENGTH and _ID.fullmatch(value) is not None


def is_cursor(value: str) -> bool:
    return 0 < len(value) <= MAX_CURSOR_LENGTH and _CURSOR.fullmatch(value) is not None


class _SessionIds:
    """Session ids in creation order: ``sess_`` + the creation millisecond (12 hex digits) + a
    count of the sessions this process made in that millisecond (4) + 64 random bits (16).

    Sessions are listed newest first by ``created_at_ms DESC, id DESC``; sessions made in one
    millisecond tie on the first key, and a random id would then order them by chance. With this
    id the tiebreak is their creation order (within one process; across processes any order of
    one millisecond is as true as another, and this one is at least stable). A translator makes
    the id of a first call's session when the call begins; the session's created_at_ms is when
    its turn is written."""

    def __init__(self) -> None:
        self._millis = -1
        self._count = 0

    def new(self, millis: int) -> str:
        self._count = self._count + 1 if millis == self._millis else 0
        self._millis = millis
        return f"sess_{millis:012x}{self._count % 0x10000:04x}{secrets.token_hex(8)}"


_session_ids = _SessionIds()


def new_turn_id() -> str:
    """A turn's id. The translator names each turn it commits, so that a commit sent again
    after an answer it never got (a sessions replica stopping mid-call) is found, not doubled
    (services/sessions/sql_store.py commit_turn)."""
    return "turn_" + secrets.token_hex(12)


def new_session_id(millis: int | None = None) -> str:
    """A new session's id, made at `millis` (epoch milliseconds; default: now)."""
    return _session_ids.new(int(time.time() * 1000) if millis is None else millis)


MAX_NAME_LENGTH = 256


def is_name(value: str) -> bool:
    """A name a client chooses that Rhone keeps as text (a session's default model): short,
    and no control characters (a NUL is an error in a PostgreSQL text column)."""
    return len(value) <= MAX_NAME_LENGTH and value.isprintable()


def not_found(what: str, detail: str) -> RhoneError:
    """A path id that cannot name anything: 404, as for an id that names nothing. The value
    is not echoed (it may be megabytes, or hold bytes no client can print)."""
    return RhoneError.of(
        Code.ERROR_CODE_NOT_FOUND, f"No {what} found with that id ({ID_RULE}).", detail=detail
    )


def invalid(param: str, what: str) -> RhoneError:
    """A body field that cannot be an id: 400 naming the field."""
    return RhoneError.invalid(f"'{param}' is not a valid {what} ({ID_RULE}).", param=param)


def check_path_id(value: str, what: str, detail: str) -> str:
    if not is_id(value):
        raise not_found(what, detail)
    return value


def check_body_id(value: str, param: str, what: str) -> str:
    """An id a request body names; empty means none."""
    if value and not is_id(value):
        raise invalid(param, what)
    return value


def check_name(value: str, param: str) -> str:
    if not is_name(value):
        raise RhoneError.invalid(
            f"'{param}' must be at most {MAX_NAME_LENGTH} printable characters.", param=param
        )
    return value


def check_cursor(value: str, param: str = "after") -> str:
    if value and not is_cursor(value):
        raise RhoneError.invalid(
            f"'{param}' is not a cursor this service returned.",
            param=param,
            detail="invalid_cursor",
        )
    return value
