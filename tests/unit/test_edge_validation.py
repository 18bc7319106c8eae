"""What an id, a cursor, a name and a JSON nesting may be where they enter Rhone. Pure."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rhone.errors import RhoneError
from rhone.ids import (
    MAX_ID_LENGTH,
    check_body_id,
    check_name,
    check_path_id,
    is_cursor,
    is_id,
    new_session_id,
)
from rhone.jsonutil import MAX_JSON_DEPTH, check_depth, loads_object, struct_from_dict
from services.sessions.store import InvalidCursor, decode_cursor, encode_cursor


def test_every_id_rhone_makes_is_an_id():
    assert is_id(new_session_id())
    assert is_id("turn_" + "a" * 24) and is_id("resp_" + "0" * 48)
    assert is_id("chatcmpl-abc.1") and is_id("msg_01XYZ")


@pytest.mark.parametrize(
    "bad", ["", "\x00", "sess_\x00", "sess_é", "✓", "a b", "a/b", "a:b", "x" * (MAX_ID_LENGTH + 1)]
)
def test_what_cannot_be_an_id(bad: str):
    assert not is_id(bad)
    with pytest.raises(RhoneError) as raised:
        check_path_id(bad, "session", "session_not_found")
    assert raised.value.failure.detail == "session_not_found"
    assert bad not in raised.value.failure.message or bad == ""


def test_a_body_id_error_names_its_field_and_an_empty_id_is_none():
    assert check_body_id("", "previous_response_id", "response id") == ""
    with pytest.raises(RhoneError) as raised:
        check_body_id("resp_\x00", "previous_response_id", "response id")
    assert raised.value.failure.param == "previous_response_id"


@given(st.text())
def test_ids_are_ascii_tokens(value: str):
    if is_id(value):
        assert value.isascii() and value.isprintable() and len(value) <= MAX_ID_LENGTH


def test_cursors_round_trip_and_malformed_ones_are_invalid():
    cursor = encode_cursor(1_700_000_000_000, "sess_" + "a" * 32)
    assert is_cursor(cursor)
    assert decode_cursor(cursor) == (1_700_000_000_000, "sess_" + "a" * 32)
    for raw in (b"99999999999999999999999:sess_x", b"1:sess_\x00", b"1:", b"x:sess_a", b"\xff"):
        with pytest.raises(InvalidCursor):
            decode_cursor(base64.urlsafe_b64encode(raw).decode())
    assert not is_cursor("a\x00") and not is_cursor("c" * 1000)


def test_names_are_short_and_printable():
    assert check_name("gpt-4.1 mini", "default_model") == "gpt-4.1 mini"
    for bad in ("a\x00", "a\nb", "m" * 257):
        with pytest.raises(RhoneError):
            check_name(bad, "default_model")


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_depth_within_the_bound_is_accepted():
    check_depth(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)


def test_depth_past_the_bound_names_the_field_without_exhausting_the_stack():
    body = {"tools": [{"function": {"parameters": nested(100_000)}}]}
    with pytest.raises(RhoneError) as raised:
        check_depth(body, MAX_JSON_DEPTH)
    assert raised.value.failure.param.startswith("tools[0].function.parameters")


def test_a_body_nested_too_deeply_is_refused_when_parsed():
    raw = b'{"metadata":' + b"[" * 500 + b"]" * 500 + b"}"
    with pytest.raises(RhoneError) as raised:
        loads_object(raw)
    assert raised.value.failure.param.startswith("metadata")


def test_a_struct_value_nested_too_deeply_names_the_field():
    with pytest.raises(RhoneError) as raised:
        struct_from_dict({"k": nested(40)}, param="metadata")
    assert raised.value.failure.param.startswith("metadata.k")
    assert struct_from_dict({"k": nested(10)}, param="metadata").fields["k"]
