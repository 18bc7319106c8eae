"""Typed readers for request fields, failing the way the Messages API does.

Anthropic validates bodies with pydantic and answers ``400 invalid_request_error`` with a
message of the form ``<dotted.path>: <reason>`` (``max_tokens: Field required``,
``messages.1.content.0.type: Input tag 'x' found using 'type' does not match ...``). These
readers keep that shape, name the offending field in ``param`` the same way, and never let a
KeyError or TypeError escape as a 500."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from rhone.errors import RhoneError

INT32_MAX = 2**31 - 1


def invalid(param: str, reason: str) -> RhoneError:
    return RhoneError.invalid(f"{param}: {reason}", param=param)


def missing(param: str) -> RhoneError:
    return invalid(param, "Field required")


def bad_tag(param: str, value: Any, expected: Iterable[str]) -> RhoneError:
    tags = ", ".join(f"'{tag}'" for tag in expected)
    return invalid(
        param,
        f"Input tag {value!r} found using 'type' does not match any of the expected tags: {tags}",
    )


def as_object(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(param, "Input should be a valid dictionary")
    return value


def as_list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(param, "Input should be a valid list")
    return value


def required(obj: Mapping[str, Any], key: str, param: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise missing(param)
    return value


def as_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid(param, "Input should be a valid string")
    return value


def required_str(obj: Mapping[str, Any], key: str, param: str) -> str:
    return as_str(required(obj, key, param), param)


def optional_str(obj: Mapping[str, Any], key: str, param: str) -> str | None:
    value = obj.get(key)
    return None if value is None else as_str(value, param)


def optional_bool(obj: Mapping[str, Any], key: str, param: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise invalid(param, "Input should be a valid boolean")


def as_int(value: Any, param: str, *, minimum: int = 0, maximum: int = INT32_MAX) -> int:
    # bool is an int in Python but not in JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(param, "Input should be a valid integer")
    if value < minimum:
        raise invalid(param, f"Input should be greater than or equal to {minimum}")
    if value > maximum:
        raise invalid(param, f"Input should be less than or equal to {maximum}")
    return value


def optional_int(obj: Mapping[str, Any], key: str, param: str) -> int | None:
    value = obj.get(key)
    return None if value is None else as_int(value, param)


def optional_number(obj: Mapping[str, Any], key: str, param: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(param, "Input should be a valid number")
    return float(value)


def decode_base64(value: str, param: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(param, "Input should be valid base64 data") from None


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()
