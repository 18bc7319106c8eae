"""A client's chat request body -> ``GenerateRequest``: tools, tool choice, generation config,
metadata and the extras that have no canonical field. Messages are in ``messages.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.dialects.base import DecodedCall
from rhone.errors import RhoneError
from rhone.jsonutil import compact_json, struct_from_dict
from rhone.v1 import generation_pb2 as gen

from .fields import (
    INT32_MAX,
    INT64_MAX,
    as_list,
    as_object,
    bad_value,
    one_of,
    optional_bool,
    optional_int,
    optional_number,
    optional_str,
    required,
    required_str,
    wrong_type,
)
from .messages import decode_messages

NAME = "openai.chat"

# Every top-level field with a canonical home (or that only shapes the answer); anything else
# the client sent travels verbatim in extras.
_CONSUMED = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "max_completion_tokens",
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "reasoning_effort",
        "metadata",
        "stream",
        "stream_options",
        "n",
    }
)

CHOICE_MODES = {
    "auto": gen.ToolChoice.MODE_AUTO,
    "none": gen.ToolChoice.MODE_NONE,
    "required": gen.ToolChoice.MODE_REQUIRED,
}

FORMAT_TYPES = {
    "text": gen.ResponseFormat.TYPE_TEXT,
    "json_object": gen.ResponseFormat.TYPE_JSON_OBJECT,
    "json_schema": gen.ResponseFormat.TYPE_JSON_SCHEMA,
}


def decode_request(body: Mapping[str, Any], params: Mapping[str, str]) -> DecodedCall:
    """A client's chat body -> the canonical request, whether to stream, and include_usage."""
    request = gen.GenerateRequest(
        model=required_str(body, "model", "model"),
        messages=decode_messages(body.get("messages")),
        tools=_decode_tools(body.get("tools")),
        metadata=_decode_metadata(body.get("metadata")),
    )
    if body.get("tool_choice") is not None:
        request.tool_choice.CopyFrom(_decode_tool_choice(body["tool_choice"]))
    _decode_config(body, request.config)
    _reject_choices(body)
    extras = {key: value for key, value in body.items() if key not in _CONSUMED}
    if extras:
        request.extras.CopyFrom(struct_from_dict(extras))
        request.extras_dialect = NAME
    stream_options = body.get("stream_options")
    include_usage = None
    if stream_options is not None:
        stream_options = as_object(stream_options, "stream_options")
        include_usage = optional_bool(
            stream_options, "include_usage", "stream_options.include_usage"
        )
    return DecodedCall(
        request=request,
        stream=bool(optional_bool(body, "stream", "stream")),
        options={"include_usage": bool(include_usage)},
    )


def _reject_choices(body: Mapping[str, Any]) -> None:
    n = optional_int(body, "n", "n", minimum=1, maximum=INT32_MAX)
    if n is not None and n != 1:
        raise RhoneError.invalid(
            f"Invalid 'n': {n}. Rhone returns one choice per request; send n=1 or leave it out.",
            param="n",
        )


def _decode_tools(value: Any) -> list[gen.Tool]:
    if value is None:
        return []
    tools = []
    for i, raw in enumerate(as_list(value, "tools")):
        param = f"tools[{i}]"
        tool = as_object(raw, param)
        kind = required(tool, "type", f"{param}.type")
        if kind != "function":
            # Custom (free-form grammar) tools have no canonical form to carry them elsewhere.
            raise bad_value(f"{param}.type", kind, ("function",))
        function = as_object(required(tool, "function", f"{param}.function"), f"{param}.function")
        parameters = function.get("parameters")
        if parameters is not None:
            parameters = compact_json(as_object(parameters, f"{param}.function.parameters"))
        decoded = gen.Tool(
            name=required_str(function, "name", f"{param}.function.name"),
            description=optional_str(function, "description", f"{param}.function.description")
            or "",
            parameters_json=parameters or "",
        )
        strict = optional_bool(function, "strict", f"{param}.function.strict")
        if strict is not None:
            decoded.strict = strict
        tools.append(decoded)
    return tools


def _decode_tool_choice(value: Any) -> gen.ToolChoice:
    if isinstance(value, str):
        return gen.ToolChoice(mode=CHOICE_MODES[one_of(value, CHOICE_MODES, "tool_choice")])
    choice = as_object(value, "tool_choice")
    kind = required(choice, "type", "tool_choice.type")
    if kind != "function":
        # allowed_tools and custom-tool choices have no canonical form.
        raise bad_value("tool_choice.type", kind, ("function",))
    function = as_object(
        required(choice, "function", "tool_choice.function"), "tool_choice.function"
    )
    name = required_str(function, "name", "tool_choice.function.name")
    return gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name=name)


def _decode_config(body: Mapping[str, Any], config: gen.GenerationConfig) -> None:
    """Sets only the fields the client sent, so an absent field stays absent (not zero)."""
    max_tokens = optional_int(
        body, "max_completion_tokens", "max_completion_tokens", minimum=1, maximum=INT32_MAX
    )
    if max_tokens is None:
        # The deprecated spelling; max_completion_tokens wins when both are sent.
        max_tokens = optional_int(body, "max_tokens", "max_tokens", minimum=1, maximum=INT32_MAX)
    if max_tokens is not None:
        config.max_tokens = max_tokens
    for key in ("temperature", "top_p"):
        number = optional_number(body, key, key)
        if number is not None:
            setattr(config, key, number)
    seed = optional_int(body, "seed", "seed", minimum=-INT64_MAX - 1, maximum=INT64_MAX)
    if seed is not None:
        config.seed = seed
    parallel = optional_bool(body, "parallel_tool_calls", "parallel_tool_calls")
    if parallel is not None:
        config.parallel_tool_calls = parallel
    effort = optional_str(body, "reasoning_effort", "reasoning_effort")
    if effort:
        config.reasoning_effort = effort
    stop = _decode_stop(body.get("stop"))
    if stop:
        config.stop.extend(stop)
    if body.get("response_format") is not None:
        config.response_format.CopyFrom(_decode_response_format(body["response_format"]))


def _decode_stop(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    stops = as_list(value, "stop")
    for i, stop in enumerate(stops):
        if not isinstance(stop, str):
            raise wrong_type(f"stop[{i}]", "a string", stop)
    return stops


def _decode_response_format(value: Any) -> gen.ResponseFormat:
    fmt = as_object(value, "response_format")
    kind = one_of(
        required(fmt, "type", "response_format.type"), FORMAT_TYPES, "response_format.type"
    )
    decoded = gen.ResponseFormat(type=FORMAT_TYPES[kind])
    if kind != "json_schema":
        return decoded
    param = "response_format.json_schema"
    spec = as_object(required(fmt, "json_schema", param), param)
    decoded.name = required_str(spec, "name", f"{param}.name")
    decoded.description = optional_str(spec, "description", f"{param}.description") or ""
    if spec.get("schema") is not None:
        decoded.schema_json = compact_json(as_object(spec["schema"], f"{param}.schema"))
    strict = optional_bool(spec, "strict", f"{param}.strict")
    if strict is not None:
        decoded.strict = strict
    return decoded


def _decode_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    metadata = as_object(value, "metadata")
    for key, item in metadata.items():
        if not isinstance(item, str):
            raise wrong_type(f"metadata.{key}", "a string", item)
    return dict(metadata)
