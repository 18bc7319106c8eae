"""Typed readers for the JSON a client sends, shared by every dialect.

A body arrives as parsed JSON (dicts, lists, str, int, float, bool, None); each reader checks one
value's type (or range, or base64) and, when it is wrong, raises a ``RhoneError`` that names the
offending field in ``param``, so a client gets a 400 that says what to fix instead of a KeyError
or TypeError escaping as a 500.

What differs between surfaces is only the wording: OpenAI says ``Invalid type for 'x': expected a
string, but got an integer instead.``, Anthropic's pydantic says ``x: Input should be a valid
string``, Gemini says ``x must be a string.``. A dialect subclasses ``FieldReader`` with its
wording (its ``fields.py``) and every check is written once, here."""

from __future__ import annotations

import base64
import binascii
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Literal

from rhone.errors import RhoneError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# The JSON types a reader expects, as the wording methods receive them.
Kind = Literal["object", "array", "string", "boolean", "integer", "number"]


def json_type(value: Any) -> str:
    """The JSON name of a value's type with its article ("an integer"), for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


class FieldReader(ABC):
    """The readers; a subclass says how its surface words each kind of bad input."""

    @abstractmethod
    def wrong_type_message(self, param: str, kind: Kind, value: Any) -> str: ...

    @abstractmethod
    def missing_message(self, param: str) -> str: ...

    @abstractmethod
    def out_of_range_message(self, param: str, value: int, minimum: int, maximum: int) -> str: ...

    @abstractmethod
    def bad_base64_message(self, param: str) -> str: ...

    # ------------------------------------------------------------------------- errors

    def invalid(self, param: str, message: str) -> RhoneError:
        return RhoneError.invalid(message, param=param)

    def wrong_type(self, param: str, kind: Kind, value: Any) -> RhoneError:
        return self.invalid(param, self.wrong_type_message(param, kind, value))

    def missing(self, param: str) -> RhoneError:
        return self.invalid(param, self.missing_message(param))

    # ------------------------------------------------------------------------- one value

    def as_object(self, value: Any, param: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.wrong_type(param, "object", value)
        return value

    def as_list(self, value: Any, param: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.wrong_type(param, "array", value)
        return value

    def as_str(self, value: Any, param: str) -> str:
        if not isinstance(value, str):
            raise self.wrong_type(param, "string", value)
        return value

    def as_bool(self, value: Any, param: str) -> bool:
        if not isinstance(value, bool):
            raise self.wrong_type(param, "boolean", value)
        return value

    def as_int(self, value: Any, param: str, *, minimum: int, maximum: int) -> int:
        # bool is an int in Python but not in JSON; a float like 5.0 is not an integer either.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.wrong_type(param, "integer", value)
        if not minimum <= value <= maximum:
            raise self.invalid(param, self.out_of_range_message(param, value, minimum, maximum))
        return value

    def as_number(self, value: Any, param: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.wrong_type(param, "number", value)
        return float(value)

    def decode_base64(self, value: str, param: str) -> bytes:
        """Standard base64 with padding, as OpenAI and Anthropic take inline data."""
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise self.invalid(param, self.bad_base64_message(param)) from None

    # ------------------------------------------------------------------------- one field

    def required(self, obj: Mapping[str, Any], key: str, param: str) -> Any:
        """The field's value; absent and JSON null are both missing."""
        value = obj.get(key)
        if value is None:
            raise self.missing(param)
        return value

    def required_str(self, obj: Mapping[str, Any], key: str, param: str) -> str:
        return self.as_str(self.required(obj, key, param), param)

    def optional_str(self, obj: Mapping[str, Any], key: str, param: str) -> str | None:
        """None when absent or null (clients send explicit nulls for defaults)."""
        value = obj.get(key)
        return None if value is None else self.as_str(value, param)

    def optional_bool(self, obj: Mapping[str, Any], key: str, param: str) -> bool | None:
        value = obj.get(key)
        return None if value is None else self.as_bool(value, param)

    def optional_int(
        self, obj: Mapping[str, Any], key: str, param: str, *, minimum: int, maximum: int
    ) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        return self.as_int(value, param, minimum=minimum, maximum=maximum)

    def optional_number(self, obj: Mapping[str, Any], key: str, param: str) -> float | None:
        value = obj.get(key)
        return None if value is None else self.as_number(value, param)


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def split_data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>[;params];base64,<data>`` -> (media type, base64 payload); None for any
    other URL, or a data URL that is not base64 (the only form OpenAI and Anthropic accept)."""
    if not url.startswith("data:"):
        return None
    header, comma, payload = url[len("data:") :].partition(",")
    attributes = header.split(";")
    if not comma or attributes[-1].lower() != "base64":
        return None
    return attributes[0], payload


def data_url(media_type: str, data: bytes) -> str:
    # An inline part without a media type (rare: every surface that carries bytes also carries
    # a type) still needs one for the URL to parse.
    return f"data:{media_type or 'application/octet-stream'};base64,{encode_base64(data)}"
