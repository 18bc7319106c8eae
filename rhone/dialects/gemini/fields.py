"""Reading and writing Gemini's proto-JSON: both key spellings, typed field access whose errors
name the field, base64, and the enum tables both directions share.

Gemini's API is proto-backed. The proto3 JSON mapping makes parsers accept the lowerCamelCase
JSON name and the original snake_case field name (docs/protocols/gemini.md#field-name-case), and
google-genai itself sends a mix (``generationConfig: {"thinkingConfig": {"include_thoughts":
true}}``). So every message we read goes through ``message()``, which camel-cases that one message's
own keys and leaves its values alone: Struct fields (``functionCall.args``,
``functionResponse.response``, JSON schemas) and map keys (Schema ``properties``) are user data and
are never case-converted.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rhone.dialects.field_readers import FieldReader, Kind
from rhone.errors import RhoneError
from rhone.v1 import generation_pb2 as gen


@dataclass(frozen=True, slots=True)
class Flavor:
    """Which of the two services sharing this wire format a codec speaks for."""

    # The dialect's name, as every dialect's is `<vendor>.<api>`: what GenerateRequest's
    # extras_dialect holds for extras written in it.
    name: str
    # The provider that speaks it: what an answer decoded from it names as its provider, and
    # the origin of its signatures (stored with the turns).
    provider: str
    # Vertex: role on systemInstruction too, and ``createTime`` on every response.
    vertex: bool = False


GEMINI = Flavor("google.gemini", "gemini")
VERTEX = Flavor("google.vertex", "vertex", vertex=True)
# Signatures and thinking made by either service are valid for both (same models, same format).
GEMINI_ORIGINS = frozenset({"", GEMINI.provider, VERTEX.provider})

_SNAKE = re.compile(r"_([a-z0-9])")


@functools.lru_cache(maxsize=2048)
def camel(key: str) -> str:
    """The proto JSON name of a field in either spelling: ``inline_data`` -> ``inlineData``."""
    if "_" not in key or key.startswith("_"):
        return key
    return _SNAKE.sub(lambda match: match.group(1).upper(), key)


def child(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


# The wording of Gemini's own 400s ("contents must be an array.").
_GEMINI_TYPES: dict[str, str] = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
}


class GeminiFields(FieldReader):
    def wrong_type_message(self, param: str, kind: Kind, value: Any) -> str:
        return f"{param or 'The request body'} must be {_GEMINI_TYPES[kind]}."

    def missing_message(self, param: str) -> str:
        return f"{param} is required."

    def out_of_range_message(self, param: str, value: int, minimum: int, maximum: int) -> str:
        return f"{param} is out of range."

    def bad_base64_message(self, param: str) -> str:
        return f"{param} must be base64."


READ = GeminiFields()

items = READ.as_list
string = READ.as_str
boolean = READ.as_bool


def message(value: Any, field: str) -> dict[str, Any]:
    """One proto message with its own keys in lowerCamelCase and its values untouched."""
    out: dict[str, Any] = {}
    for key, item in READ.as_object(value, field).items():
        name = camel(key)
        if name in out:
            raise RhoneError.invalid(
                f"{child(field, name)} is given twice (camelCase and snake_case).",
                param=child(field, name),
            )
        out[name] = item
    return out


def integer(value: Any, field: str, bits: int = 32) -> int:
    """A signed integer of ``bits`` bits; proto JSON also writes integers as strings ("100")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            pass
    return READ.as_int(value, field, minimum=-(2 ** (bits - 1)), maximum=2 ** (bits - 1) - 1)


def number(value: Any, field: str) -> float:
    """A number; proto JSON also writes numbers as strings ("0.5")."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise READ.wrong_type(field, "number", value) from None
    return READ.as_number(value, field)


def struct(value: Any, field: str) -> dict[str, Any]:
    """A google.protobuf.Struct field: any JSON object, kept exactly as sent."""
    if not isinstance(value, Mapping):  # worded apart from a message: it is user data
        raise READ.invalid(field, f"{field} must be a JSON object.")
    return dict(value)


def enum(value: Any, field: str, names: tuple[str, ...], *, numbered: bool = True) -> str:
    """An enum value by name (any case, as google-genai's CaseInSensitiveEnum) or, when ``names``
    are in proto number order (``numbered``), by number."""
    if isinstance(value, str) and value.upper() in names:
        return value.upper()
    whole = isinstance(value, int) and not isinstance(value, bool)
    if numbered and whole and 0 <= value < len(names):
        return names[value]
    raise RhoneError.invalid(f"{field} must be one of {', '.join(names)}.", param=field)


_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def b64decode(value: Any, field: str) -> bytes:
    """Proto ``bytes`` in JSON: standard or URL-safe base64, padding optional."""
    text = string(value, field).strip()
    if not _BASE64.match(text):
        raise READ.invalid(field, READ.bad_base64_message(field))
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise READ.invalid(field, READ.bad_base64_message(field)) from None


def is_base64(text: str) -> bool:
    """google-genai validates ``thoughtSignature`` as base64 bytes and rejects the whole chunk
    otherwise, so a surface only shows it signatures that are."""
    return bool(_BASE64.match(text)) and len(text.rstrip("=")) % 4 != 1


# finishReason: function calls end with STOP on the wire (there is no tool-calls reason).
FINISH_TO_WIRE: dict[int, str] = {
    gen.FINISH_REASON_LENGTH: "MAX_TOKENS",
    gen.FINISH_REASON_CONTENT_FILTER: "SAFETY",
    gen.FINISH_REASON_REFUSAL: "SAFETY",
}
_FILTERED = (
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "MODEL_ARMOR",
)
FINISH_FROM_WIRE: dict[str, int] = {
    "MAX_TOKENS": gen.FINISH_REASON_LENGTH,
    **dict.fromkeys(_FILTERED, gen.FINISH_REASON_CONTENT_FILTER),
}

# google.rpc.Code names, as Google's error envelope spells ``error.status``.
STATUS_OF_CODE: dict[int, str] = {
    gen.ERROR_CODE_INVALID_REQUEST: "INVALID_ARGUMENT",
    gen.ERROR_CODE_AUTHENTICATION: "UNAUTHENTICATED",
    gen.ERROR_CODE_PERMISSION: "PERMISSION_DENIED",
    gen.ERROR_CODE_NOT_FOUND: "NOT_FOUND",
    gen.ERROR_CODE_CONFLICT: "ABORTED",
    gen.ERROR_CODE_REQUEST_TOO_LARGE: "INVALID_ARGUMENT",
    gen.ERROR_CODE_RATE_LIMITED: "RESOURCE_EXHAUSTED",
    gen.ERROR_CODE_INTERNAL: "INTERNAL",
    gen.ERROR_CODE_OVERLOADED: "UNAVAILABLE",
    gen.ERROR_CODE_TIMEOUT: "DEADLINE_EXCEEDED",
    gen.ERROR_CODE_UNAVAILABLE: "UNAVAILABLE",
    gen.ERROR_CODE_CANCELLED: "CANCELLED",
}
STATUS_OF_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
CODE_OF_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": gen.ERROR_CODE_INVALID_REQUEST,
    "FAILED_PRECONDITION": gen.ERROR_CODE_INVALID_REQUEST,
    "OUT_OF_RANGE": gen.ERROR_CODE_INVALID_REQUEST,
    "UNIMPLEMENTED": gen.ERROR_CODE_INVALID_REQUEST,
    "UNAUTHENTICATED": gen.ERROR_CODE_AUTHENTICATION,
    "PERMISSION_DENIED": gen.ERROR_CODE_PERMISSION,
    "NOT_FOUND": gen.ERROR_CODE_NOT_FOUND,
    "ALREADY_EXISTS": gen.ERROR_CODE_CONFLICT,
    "ABORTED": gen.ERROR_CODE_CONFLICT,
    "RESOURCE_EXHAUSTED": gen.ERROR_CODE_RATE_LIMITED,
    "INTERNAL": gen.ERROR_CODE_INTERNAL,
    "UNKNOWN": gen.ERROR_CODE_INTERNAL,
    "DATA_LOSS": gen.ERROR_CODE_INTERNAL,
    "UNAVAILABLE": gen.ERROR_CODE_UNAVAILABLE,
    "DEADLINE_EXCEEDED": gen.ERROR_CODE_TIMEOUT,
    "CANCELLED": gen.ERROR_CODE_CANCELLED,
}


def code_text(part: Mapping[str, Any]) -> str | None:
    """Code-execution parts (``executableCode``, ``codeExecutionResult``) have no canonical kind;
    as text, any model and any client can still read them."""
    code = part.get("executableCode", part.get("executable_code"))
    if isinstance(code, Mapping):
        language = str(code.get("language", "")).lower().replace("language_unspecified", "")
        return f"```{language}\n{code.get('code', '')}\n```"
    result = part.get("codeExecutionResult", part.get("code_execution_result"))
    if isinstance(result, Mapping):
        return str(result.get("output", ""))
    return None
