"""rhone.ws.v1 frames: parsing what a client sends, building what the server sends. Pure.

The protocol is written down in docs/rhone-ws-v1.md; this module holds its frame types and the
close codes the facade sends."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from rhone.errors import RhoneError
from rhone.ids import ID_RULE, is_id
from rhone.jsonutil import MAX_JSON_DEPTH, check_depth
from services.facade.ws.calls import CALL_SURFACES

SUBPROTOCOL = "rhone.ws.v1"
# Browsers cannot set headers on a WebSocket: they may offer the key as a second subprotocol
# `rhone.key.<key>` (the server never echoes it) or as `?key=` on the URL.
KEY_SUBPROTOCOL_PREFIX = "rhone.key."

# A call's body and events in Rhone's canonical request and event types (proto JSON), beside
# the surfaces of CALL_SURFACES.
CANONICAL = "rhone.canonical"
CALL_NAMES = (*CALL_SURFACES, CANONICAL)

# The close codes the facade sends itself (RFC 6455 section 7.4.1, and the 4000-4999 private
# range). The server's WebSocket layer closes an over-long frame with 1009 on its own.
CLOSE_PROTOCOL_ERROR = 1002  # a binary frame
CLOSE_POLICY = 1008  # a denied upgrade, on a server without HTTP denial responses
CLOSE_INTERNAL_ERROR = 1011  # the socket can no longer write its frames
CLOSE_SERVICE_RESTART = 1012  # this replica drains: reconnect (to another one)
CLOSE_IDLE = 4000  # nothing in flight and nothing received for the idle timeout


class FrameError(Exception):
    """A client frame that breaks the protocol: answered with an `error` frame."""

    def __init__(self, code: str, message: str, *, call_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.call_id = code, message, call_id


@dataclass(frozen=True, slots=True)
class Bind:
    session_id: str | None


@dataclass(frozen=True, slots=True)
class Create:
    call_id: str
    surface: str  # a key of CALL_SURFACES, or CANONICAL
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Cancel:
    call_id: str


@dataclass(frozen=True, slots=True)
class Ping:
    data: Any


@dataclass(frozen=True, slots=True)
class RunFrame:
    """A `run.*` frame; services/facade/runs/socket.py reads its fields."""

    kind: str
    fields: dict[str, Any]


ClientFrame = Bind | Create | Cancel | Ping | RunFrame


def parse_client_frame(text: str) -> ClientFrame:
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("invalid_json", "Frames must be JSON text.") from None
    if not isinstance(frame, dict):
        raise FrameError("invalid_frame", "A frame must be a JSON object.")
    try:
        check_depth(frame, MAX_JSON_DEPTH, text)
    except RhoneError as exc:
        call_id = frame.get("call_id")
        named = call_id if isinstance(call_id, str) else None
        raise FrameError("invalid_frame", exc.failure.message, call_id=named) from None
    kind = frame.get("type")
    if kind == "session.bind":
        session_id = frame.get("session_id")
        if session_id is not None and (not isinstance(session_id, str) or not session_id):
            raise FrameError("invalid_frame", "session.bind: session_id must be a string or null.")
        if session_id is not None and not is_id(session_id):
            raise FrameError(
                "session_not_found", f"session.bind: no session has that id ({ID_RULE})."
            )
        return Bind(session_id)
    if kind == "call.create":
        call_id = _call_id(frame)
        surface = named_surface(frame, "call.create", CALL_NAMES, call_id=call_id)
        body = frame.get("body")
        if not isinstance(body, dict):
            raise FrameError(
                "invalid_frame", "call.create: body must be an object.", call_id=call_id
            )
        return Create(call_id, surface, body)
    if kind == "call.cancel":
        return Cancel(_call_id(frame))
    if kind == "ping":
        return Ping(frame.get("data"))
    if isinstance(kind, str) and kind.startswith("run."):
        return RunFrame(kind, frame)
    raise FrameError("unknown_frame_type", f"Unknown frame type {kind!r}.")


def named_surface(
    frame: Mapping[str, Any], what: str, names: Collection[str], *, call_id: str | None = None
) -> str:
    """The surface a `call.create` or `run.create` names in `surface`, or in `shape`, the
    field's first name, which rhone.ws.v1 keeps accepting. An error names the field the
    frame used (`invalid_surface`, `invalid_shape`)."""
    field = "surface" if "surface" in frame else "shape"
    value = frame.get(field)
    if field == "surface" and "shape" in frame and frame["shape"] != value:
        raise FrameError(
            "invalid_surface",
            f"{what}: surface and shape name different surfaces.",
            call_id=call_id,
        )
    if not isinstance(value, str) or value not in names:
        raise FrameError(
            f"invalid_{field}",
            f"{what}: {field} must be one of {', '.join(names)}.",
            call_id=call_id,
        )
    return value


def _call_id(frame: dict[str, Any]) -> str:
    call_id = frame.get("call_id")
    if not isinstance(call_id, str) or not call_id or len(call_id) > 128:
        raise FrameError("invalid_call_id", "call_id must be a non-empty string (<= 128 chars).")
    return call_id


def dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def bound(session_id: str, created: bool) -> str:
    return dumps({"type": "session.bound", "session_id": session_id, "created": created})


def event_frame(call_id_json: bytes, event: bytes) -> str:
    """A surface's own stream event wrapped with its call id; built from bytes, never
    re-parsed."""
    return (
        b'{"type":"call.event","call_id":' + call_id_json + b',"event":' + event + b"}"
    ).decode()


def done(call_id: str, session_id: str) -> str:
    return dumps({"type": "call.done", "call_id": call_id, "session_id": session_id or None})


def call_error(call_id: str, code: str, status: int, error: Any) -> str:
    return dumps(
        {"type": "call.error", "call_id": call_id, "code": code, "status": status, "error": error}
    )


def cancelled(call_id: str) -> str:
    return dumps({"type": "call.cancelled", "call_id": call_id})


def protocol_error(code: str, message: str, call_id: str | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if call_id is not None:
        frame["call_id"] = call_id
    return dumps(frame)


def pong(data: Any) -> str:
    return dumps({"type": "pong", "data": data})
