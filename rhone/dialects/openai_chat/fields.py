"""Typed readers for request fields. Each one names the offending field the way OpenAI does
(``messages[2].content[0].image_url.url``), so a client gets a 400 that says what to fix instead
of a KeyError or TypeError escaping as a 500. Messages follow OpenAI's own wording."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

from rhone.errors import RhoneError

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
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


def wrong_type(param: str, expected: str, value: Any) -> RhoneError:
    return RhoneError.invalid(
        f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} instead.",
        param=param,
    )


def missing(param: str) -> RhoneError:
    return RhoneError.invalid(f"Missing required parameter: '{param}'.", param=param)


def bad_value(param: str, value: Any, supported: Iterable[str]) -> RhoneError:
    choices = ", ".join(f"'{choice}'" for choice in supported)
    return RhoneError.invalid(
        f"Invalid value for '{param}': {value!r}. Supported values are: {choices}.", param=param
    )


def one_of(value: Any, supported: Mapping[str, Any], param: str) -> str:
    """A string naming one of ``supported``'s keys (the value may be any JSON, so it is checked
    to be a string before it is looked up)."""
    if not isinstance(value, str) or value not in supported:
        raise bad_value(param, value, supported)
    return value


def as_object(value: Any, param: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise wrong_type(param, "an object", value)
    return value


def as_list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise wrong_type(param, "an array", value)
    return value


def required(obj: Mapping[str, Any], key: str, param: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise missing(param)
    return value


def required_str(obj: Mapping[str, Any], key: str, param: str, *, non_empty: bool = True) -> str:
    value = required(obj, key, param)
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    if non_empty and not value:
        raise RhoneError.invalid(
            f"Invalid '{param}': empty string. Expected a non-empty string.", param=param
        )
    return value


def optional_str(obj: Mapping[str, Any], key: str, param: str) -> str | None:
    """A string field; None when absent or null (clients send explicit nulls for defaults)."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise wrong_type(param, "a string", value)


def optional_bool(obj: Mapping[str, Any], key: str, param: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise wrong_type(param, "a boolean", value)


def optional_int(
    obj: Mapping[str, Any], key: str, param: str, *, minimum: int, maximum: int
) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int in Python but not in JSON; a float like 5.0 is not an integer either.
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(param, "an integer", value)
    if not minimum <= value <= maximum:
        raise RhoneError.invalid(
            f"Invalid '{param}': {value} is out of range. Expected a value from {minimum} to "
            f"{maximum}.",
            param=param,
        )
    return value


def optional_number(obj: Mapping[str, Any], key: str, param: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(param, "a number", value)
    return float(value)


def decode_base64(value: str, param: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RhoneError.invalid(
            f"Invalid '{param}': the data is not valid base64.", param=param
        ) from None


def parse_data_url(url: str, param: str) -> tuple[str, bytes]:
    """``data:<media type>[;params];base64,<data>`` -> (media type, bytes). Only the base64 form:
    it is the only one OpenAI accepts for image_url and file_data."""
    header, comma, payload = url.partition(",")
    attributes = header[len("data:") :].split(";")
    if not comma or attributes[-1].lower() != "base64":
        raise RhoneError.invalid(
            f"Invalid '{param}': expected a base64 data URL ('data:<media type>;base64,<data>').",
            param=param,
        )
    return attributes[0], decode_base64(payload, param)


def data_url(media_type: str, data: bytes) -> str:
    # An inline part without a media type (rare: every surface that carries bytes also carries
    # a type) still needs one for the URL to parse.
    return (
        f"data:{media_type or 'application/octet-stream'};base64,{base64.b64encode(data).decode()}"
    )
