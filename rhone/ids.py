"""What an id a client sends can look like, checked where it enters Rhone.

Session, turn and response ids, and the opaque pagination cursors, are ASCII tokens Rhone
made (`sess_` + hex, `turn_` + hex, `resp_` + hex, base64url cursors). A value that cannot be
one (a NUL, other control or non-ASCII characters, thousands of characters) is answered at the
edge as "not found" or "invalid" in the surface's own shape, and never reaches a database,
whose errors about it (an invalid byte sequence, an index row too large) would be a 500."""

from __future__ import annotations

import re

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
