"""JSON helpers shared by the dialects and Rhone's own JSON APIs: orjson in and out, the checks
every body gets (an object, not too deep, no unknown field where the API names them all), and
Struct conversion that keeps integers integers (a protobuf Struct stores every number as a
double)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import orjson
from google.protobuf import struct_pb2

from rhone.errors import RhoneError

dumps = orjson.dumps

# How deep a request body may nest. Far beyond any real tool schema, and well inside what
# the code after the parser can take (orjson writes at most 254 levels back out).
MAX_JSON_DEPTH = 64
# How deep a value kept in a protobuf Struct (metadata, extras) may nest: the protobuf
# decoder stops at 100 message levels, and each JSON level costs three.
MAX_STRUCT_DEPTH = 24
# How many path segments a depth error names.
_NAMED_SEGMENTS = 6


def loads_object(body: bytes | str, *, what: str = "request body") -> dict[str, Any]:
    """Parses a JSON object or raises an invalid-request error that says what was wrong."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RhoneError.invalid(f"The {what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RhoneError.invalid(f"The {what} must be a JSON object.")
    check_depth(value, MAX_JSON_DEPTH, body)
    return value


def refuse_unknown(value: Mapping[str, Any], allowed: Collection[str], *, within: str = "") -> None:
    """A 400 for an object of Rhone's own (a sessions or admin API body, the `rhone` object)
    holding a field outside `allowed`: it names the first such field, as its param too, and the
    allowed ones. `within`: the path of the object when it is not the body (`rhone`)."""
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        name = f"{within}.{unknown[0]}" if within else unknown[0]
        raise RhoneError.invalid(
            f"Unknown field '{name}' (allowed: {', '.join(sorted(allowed))}).", param=name
        )


def check_depth(value: Any, limit: int, raw: bytes | str | None = None, *, root: str = "") -> None:
    """Raises a 400 naming the field whose value nests deeper than `limit` levels (the
    top-level value is level 1). `raw`, the text `value` was parsed from, lets a small body
    skip the walk: it cannot nest deeper than it has brackets."""
    if raw is not None and _brackets(raw) <= limit:
        return
    path = _too_deep(value, limit)
    if path is not None:
        field = _field_name(root, path)
        shown = field + ("..." if len(path) >= _NAMED_SEGMENTS else "")
        raise RhoneError.invalid(
            f"'{shown}' is nested too deeply: at most {limit} levels of objects and arrays.",
            param=field,
        )


def _brackets(raw: bytes | str) -> int:
    if isinstance(raw, bytes):
        return raw.count(b"{") + raw.count(b"[")
    return raw.count("{") + raw.count("[")


def _too_deep(value: Any, limit: int) -> list[str | int] | None:
    """The path of a container that nests deeper than `limit`, or None. Iterative, so that
    the depth it measures cannot exhaust the interpreter's own stack; the path is only
    traced for a value that is too deep, so the common walk builds nothing."""
    if not _exceeds(value, limit):
        return None
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return list(path)
        items: Any = node.items() if type(node) is dict else enumerate(node)
        for key, child in items:
            if type(child) is dict or type(child) is list:
                named = (*path, key) if len(path) < _NAMED_SEGMENTS else path
                stack.append((child, depth + 1, named))
    return None


def _exceeds(value: Any, limit: int) -> bool:
    if type(value) is not dict and type(value) is not list:
        return False
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        depth += 1
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                if depth > limit:
                    return True
                push((child, depth))
    return False


def _field_name(root: str, path: list[str | int]) -> str:
    name = root
    for segment in path:
        if isinstance(segment, int):
            name += f"[{segment}]"
        else:
            name += f".{segment}" if name else str(segment)
    return name or "body"


def struct_from_dict(value: dict[str, Any], *, param: str = "") -> struct_pb2.Struct:
    """A Struct of `value`; a value nested deeper than a Struct can travel is a 400 naming
    `param` (or, when empty, the top-level key that nests too deep)."""
    check_depth(value, MAX_STRUCT_DEPTH, root=param)
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
