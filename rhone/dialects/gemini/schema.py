"""Gemini's native ``Schema`` (an OpenAPI 3.0 subset with upper-case type names) to JSON Schema.

Function ``parameters`` and ``responseSchema`` use that Schema message; every other provider takes
JSON Schema. The canonical request keeps JSON Schema only, and the upstream encoder sends it back
as ``parametersJsonSchema`` / ``responseJsonSchema``, which Gemini accepts verbatim.
"""

from __future__ import annotations

from typing import Any

from rhone.dialects.gemini import fields

# int64 fields of Schema, which proto JSON may write as strings.
_COUNTS = frozenset(
    {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
)
_TYPES = ("TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL")


def json_schema(value: Any, field: str) -> dict[str, Any]:
    """The JSON Schema a Gemini Schema message means. Schema keys may come in either spelling;
    property names are user data and stay as given."""
    schema = fields.message(value, field)
    out: dict[str, Any] = {}
    for key, item in schema.items():
        where = fields.child(field, key)
        if key == "type":
            kind = fields.enum(item, where, _TYPES)
            if kind != "TYPE_UNSPECIFIED":
                out["type"] = kind.lower()
        elif key == "properties":
            props = fields.struct(item, where)
            out["properties"] = {
                name: json_schema(sub, f"{where}.{name}") for name, sub in props.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(item, dict):
            out[key] = json_schema(item, where)
        elif key == "anyOf":
            out["anyOf"] = [
                json_schema(sub, f"{where}[{i}]") for i, sub in enumerate(fields.items(item, where))
            ]
        elif key == "defs":
            defs = fields.struct(item, where)
            out["$defs"] = {name: json_schema(sub, f"{where}.{name}") for name, sub in defs.items()}
        elif key == "ref":
            out["$ref"] = item
        elif key == "example":
            out["examples"] = [item]
        elif key in _COUNTS:
            out[key] = fields.integer(item, where)
        elif key not in ("nullable", "propertyOrdering"):
            # propertyOrdering is a Gemini-only hint; JSON Schema keeps properties in order.
            out[key] = item
    if schema.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "anyOf" in out:
            out["anyOf"].append({"type": "null"})
    return out
