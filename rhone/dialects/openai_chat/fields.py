"""Typed readers for request fields in OpenAI's wording, shared by both OpenAI dialects (Chat and
Responses). Each names the offending field the way OpenAI does
(``messages[2].content[0].image_url.url``); the checks themselves are in
``rhone/dialects/field_readers.py``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rhone.dialects.field_readers import (
    INT32_MAX,
    INT64_MAX,
    FieldReader,
    Kind,
    data_url,
    json_type,
    split_data_url,
)
from rhone.errors import RhoneError

__all__ = ["INT32_MAX", "INT64_MAX", "READ", "data_url"]

_ARTICLES = {"object": "an", "array": "an", "integer": "an"}


def _wrong_type_text(param: str, expected: str, value: Any) -> str:
    return f"Invalid type for '{param}': expected {expected}, but got {json_type(value)} instead."


class OpenAIFields(FieldReader):
    def wrong_type_message(self, param: str, kind: Kind, value: Any) -> str:
        return _wrong_type_text(param, f"{_ARTICLES.get(kind, 'a')} {kind}", value)

    def missing_message(self, param: str) -> str:
        return f"Missing required parameter: '{param}'."

    def out_of_range_message(self, param: str, value: int, minimum: int, maximum: int) -> str:
        return (
            f"Invalid '{param}': {value} is out of range. Expected a value from {minimum} to "
            f"{maximum}."
        )

    def bad_base64_message(self, param: str) -> str:
        return f"Invalid '{param}': the data is not valid base64."


READ = OpenAIFields()

invalid = READ.invalid
missing = READ.missing
as_object = READ.as_object
as_list = READ.as_list
required = READ.required
optional_str = READ.optional_str
optional_bool = READ.optional_bool
optional_int = READ.optional_int
optional_number = READ.optional_number
decode_base64 = READ.decode_base64


def wrong_type(param: str, expected: str, value: Any) -> RhoneError:
    """OpenAI's type error with any expectation ("one of a string or array")."""
    return READ.invalid(param, _wrong_type_text(param, expected, value))


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


def required_str(obj: Mapping[str, Any], key: str, param: str, *, non_empty: bool = True) -> str:
    """A required string; Chat also refuses an empty one where OpenAI does (``non_empty``)."""
    value = READ.required_str(obj, key, param)
    if non_empty and not value:
        raise RhoneError.invalid(
            f"Invalid '{param}': empty string. Expected a non-empty string.", param=param
        )
    return value


def parse_data_url(url: str, param: str) -> tuple[str, bytes]:
    """A base64 data URL -> (media type, bytes); any other form is refused (it is the only one
    OpenAI accepts for image_url and file_data)."""
    parts = split_data_url(url)
    if parts is None:
        raise RhoneError.invalid(
            f"Invalid '{param}': expected a base64 data URL ('data:<media type>;base64,<data>').",
            param=param,
        )
    return parts[0], decode_base64(parts[1], param)
