"""JSON helpers shared by the dialects: orjson in and out, and Struct conversion that keeps
integers integers (a protobuf Struct stores every number as a double)."""

from __future__ import annotations

import math
from typing import Any

import orjson
from google.protobuf import struct_pb2

from rhone.errors import RhoneError

dumps = orjson.dumps


def loads_object(body: bytes | str, *, what: str = "request body") -> dict[str, Any]:
    """Parses a JSON object or raises an invalid-request error that says what was wrong."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RhoneError.invalid(f"The {what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RhoneError.invalid(f"The {what} must be a JSON object.")
    return value


def struct_from_dict(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def dict_from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return {key: _plain(value) for key, value in struct.fields.items()}


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        # Struct holds every number as a double; integral ones go back to JSON as integers,
        # except -0.0, whose sign an integer cannot keep.
        if number.is_integer() and abs(number) < 2**53 and math.copysign(1.0, number) > 0:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return dict_from_struct(value.struct_value)
    if kind == "list_value":
        return [_plain(item) for item in value.list_value.values]
    return None


def compact_json(value: Any) -> str:
    return orjson.dumps(value).decode()
