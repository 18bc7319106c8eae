"""The Messages request body <-> ``GenerateRequest``, both directions (and count_tokens).

Fields with a canonical home are mapped; every other top-level field a client sent goes to
``extras`` verbatim and is sent on only to Anthropic. Three fields are split: server tools
(``web_search_...``, ``bash_...``) have no canonical form and ride in ``extras["tools"]``;
``output_config.format`` is the canonical response format while the rest of
``output_config`` (``effort``...) rides in extras; and a ``thinking`` object the canonical
config cannot say whole (``adaptive``, ``display``) is kept in extras beside its canonical
reading, so an Anthropic-to-Anthropic call loses nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.dialects.base import DecodedCall
from rhone.jsonutil import compact_json, struct_from_dict
from rhone.v1 import generation_pb2 as gen

from .fields import (
    as_int,
    as_list,
    as_object,
    as_str,
    bad_tag,
    invalid,
    missing,
    optional_bool,
    optional_int,
    optional_number,
    optional_str,
    required,
    required_str,
)
from .messages import (
    decode_cache_control,
    decode_messages,
    decode_system,
)

NAME = "anthropic.messages"


_MAPPED = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "thinking",
        "output_config",
        "stream",
    }
)

TOOL_CHOICES = {
    "auto": gen.ToolChoice.MODE_AUTO,
    "any": gen.ToolChoice.MODE_REQUIRED,
    "tool": gen.ToolChoice.MODE_TOOL,
    "none": gen.ToolChoice.MODE_NONE,
}


def decode_request(body: Mapping[str, Any], params: Mapping[str, str]) -> DecodedCall:
    """A ``POST /v1/messages`` body. ``params`` is unused: the route has no path parameters."""
    request = _decode(body, count_only=False)
    stream = optional_bool(body, "stream", "stream") or False
    return DecodedCall(request=request, stream=stream)


def count_tokens_request(body: Mapping[str, Any]) -> gen.GenerateRequest:
    """A ``POST /v1/messages/count_tokens`` body: the same fields, but no ``max_tokens``."""
    return _decode(body, count_only=True)


def encode_count_tokens(n: int) -> dict[str, Any]:
    return {"input_tokens": n}


def _decode(body: Mapping[str, Any], *, count_only: bool) -> gen.GenerateRequest:
    body = as_object(body, "body")
    request = gen.GenerateRequest(model=required_str(body, "model", "model"))
    config = request.config
    max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config.max_tokens = as_int(max_tokens, "max_tokens")
    elif not count_only:
        raise missing("max_tokens")
    if body.get("system") is not None:
        request.messages.extend(decode_system(body["system"]))
    request.messages.extend(decode_messages(body.get("messages")))
    extras = {key: value for key, value in body.items() if key not in _MAPPED}
    if body.get("tools") is not None:
        server_tools = _decode_tools(body["tools"], request)
        if server_tools:
            extras["tools"] = server_tools
    if body.get("tool_choice") is not None:
        _decode_tool_choice(body["tool_choice"], request)
    if body.get("stop_sequences") is not None:
        items = as_list(body["stop_sequences"], "stop_sequences")
        config.stop.extend(as_str(s, f"stop_sequences.{j}") for j, s in enumerate(items))
    _decode_sampling(body, config)
    if body.get("metadata") is not None:
        _decode_metadata(body["metadata"], request)
    if body.get("thinking") is not None and _decode_thinking(body["thinking"], config):
        extras["thinking"] = body["thinking"]
    if body.get("output_config") is not None:
        rest = _decode_output_config(body["output_config"], config)
        if rest:
            extras["output_config"] = rest
    if extras:
        request.extras.CopyFrom(struct_from_dict(extras))
        request.extras_dialect = NAME
    return request


def _decode_sampling(body: Mapping[str, Any], config: gen.GenerationConfig) -> None:
    temperature = optional_number(body, "temperature", "temperature")
    if temperature is not None:
        config.temperature = temperature
    top_p = optional_number(body, "top_p", "top_p")
    if top_p is not None:
        config.top_p = top_p
    top_k = optional_int(body, "top_k", "top_k")
    if top_k is not None:
        config.top_k = top_k


def _decode_tools(value: Any, request: gen.GenerateRequest) -> list[Any]:
    """Custom tools become canonical tools; the server tools that come back are kept as sent."""
    server_tools = []
    for j, raw in enumerate(as_list(value, "tools")):
        param = f"tools.{j}"
        tool = as_object(raw, param)
        if tool.get("type") not in (None, "custom"):
            server_tools.append(dict(tool))
            continue
        schema_param = f"{param}.input_schema"
        schema = as_object(required(tool, "input_schema", schema_param), schema_param)
        decoded = gen.Tool(
            name=required_str(tool, "name", f"{param}.name"),
            description=optional_str(tool, "description", f"{param}.description") or "",
            parameters_json=compact_json(schema),
        )
        strict = optional_bool(tool, "strict", f"{param}.strict")
        if strict is not None:
            decoded.strict = strict
        decode_cache_control(tool, param, decoded.cache_control)
        request.tools.append(decoded)
    return server_tools


def _decode_tool_choice(value: Any, request: gen.GenerateRequest) -> None:
    choice = as_object(value, "tool_choice")
    kind = required(choice, "type", "tool_choice.type")
    if not isinstance(kind, str) or kind not in TOOL_CHOICES:
        raise bad_tag("tool_choice.type", kind, TOOL_CHOICES)
    request.tool_choice.mode = TOOL_CHOICES[kind]
    if kind == "tool":
        request.tool_choice.name = required_str(choice, "name", "tool_choice.name")
    disable = optional_bool(
        choice, "disable_parallel_tool_use", "tool_choice.disable_parallel_tool_use"
    )
    if disable is not None:
        request.config.parallel_tool_calls = not disable


def _decode_metadata(value: Any, request: gen.GenerateRequest) -> None:
    metadata = as_object(value, "metadata")
    for key in metadata:
        if key != "user_id":
            raise invalid(f"metadata.{key}", "Extra inputs are not permitted")
    user_id = optional_str(metadata, "user_id", "metadata.user_id")
    if user_id is not None:
        request.metadata["user_id"] = user_id


def _decode_thinking(value: Any, config: gen.GenerationConfig) -> bool:
    """Reads ``thinking`` into the config; True when the object says more than the config can
    (``adaptive``, ``display``) and must also ride in extras."""
    thinking = as_object(value, "thinking")
    kind = required(thinking, "type", "thinking.type")
    if kind == "enabled":
        config.thinking_budget = as_int(
            required(thinking, "budget_tokens", "thinking.budget_tokens"), "thinking.budget_tokens"
        )
        config.include_thinking = True
        return bool(set(thinking) - {"type", "budget_tokens"})
    if kind == "disabled":
        config.include_thinking = False
        return bool(set(thinking) - {"type"})
    if kind == "adaptive":
        config.include_thinking = True
        return True
    raise bad_tag("thinking.type", kind, ("enabled", "disabled", "adaptive"))


def _decode_output_config(value: Any, config: gen.GenerationConfig) -> dict[str, Any]:
    output_config = as_object(value, "output_config")
    rest = {key: item for key, item in output_config.items() if key != "format"}
    fmt = output_config.get("format")
    if fmt is not None:
        fmt = as_object(fmt, "output_config.format")
        kind = required(fmt, "type", "output_config.format.type")
        if kind != "json_schema":
            raise bad_tag("output_config.format.type", kind, ("json_schema",))
        schema = required(fmt, "schema", "output_config.format.schema")
        config.response_format.type = gen.ResponseFormat.TYPE_JSON_SCHEMA
        config.response_format.schema_json = compact_json(
            as_object(schema, "output_config.format.schema")
        )
    return rest
