"""Typed readers for request fields, failing the way the Messages API does.

Anthropic validates bodies with pydantic and answers ``400 invalid_request_error`` with a
message of the form ``<dotted.path>: <reason>`` (``max_tokens: Field required``,
``messages.1.content.0.type: Input tag 'x' found using 'type' does not match ...``). This is that
wording; the checks themselves are in ``rhone/dialects/field_readers.py``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rhone.dialects.field_readers import INT32_MAX, FieldReader, Kind, encode_base64
from rhone.errors import RhoneError

__all__ = ["INT32_MAX", "READ", "encode_base64"]

# pydantic's names for the JSON types ("Input should be a valid dictionary").
_PYDANTIC_TYPES: dict[str, str] = {
    "object": "dictionary",
    "array": "list",
    "string": "string",
    "boolean": "boolean",
    "integer": "integer",
    "number": "number",
}


class AnthropicFields(FieldReader):
    def wrong_type_message(self, param: str, kind: Kind, value: Any) -> str:
        return f"{param}: Input should be a valid {_PYDANTIC_TYPES[kind]}"

    def missing_message(self, param: str) -> str:
        return f"{param}: Field required"

    def out_of_range_message(self, param: str, value: int, minimum: int, maximum: int) -> str:
        if value < minimum:
            return f"{param}: Input should be greater than or equal to {minimum}"
        return f"{param}: Input should be less than or equal to {maximum}"

    def bad_base64_message(self, param: str) -> str:
        return f"{param}: Input should be valid base64 data"


READ = AnthropicFields()

missing = READ.missing
as_object = READ.as_object
as_list = READ.as_list
as_str = READ.as_str
required = READ.required
required_str = READ.required_str
optional_str = READ.optional_str
optional_bool = READ.optional_bool
optional_number = READ.optional_number
decode_base64 = READ.decode_base64


def invalid(param: str, reason: str) -> RhoneError:
    """``<param>: <reason>``, pydantic's shape."""
    return READ.invalid(param, f"{param}: {reason}")


def bad_tag(param: str, value: Any, expected: Iterable[str]) -> RhoneError:
    tags = ", ".join(f"'{tag}'" for tag in expected)
    return invalid(
        param,
        f"Input tag {value!r} found using 'type' does not match any of the expected tags: {tags}",
    )


def as_int(value: Any, param: str, *, minimum: int = 0, maximum: int = INT32_MAX) -> int:
    """A count: 0 to 2^31-1 unless said otherwise (Anthropic's integer fields are counts)."""
    return READ.as_int(value, param, minimum=minimum, maximum=maximum)


def optional_int(obj: Mapping[str, Any], key: str, param: str) -> int | None:
    value = obj.get(key)
    return None if value is None else as_int(value, param)
