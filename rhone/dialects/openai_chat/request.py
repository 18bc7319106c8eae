"""The chat request body <-> ``GenerateRequest``: tools, tool choice, generation config,
metadata and the extras that have no canonical field. Messages are in ``messages.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from rhone.dialects.base import DecodedCall
from rhone.errors import RhoneError
from rhone.jsonutil import compact_json, dict_from_struct, struct_from_dict
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
from .messages import decode_messages, encode_messages

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

_CHOICE_MODES = {
    "auto": gen.ToolChoice.MODE_AUTO,
    "none": gen.ToolChoice.MODE_NONE,
    "required": gen.ToolChoice.MODE_REQUIRED,
}
_CHOICE_NAMES = {mode: name for name, mode in _CHOICE_MODES.items()}

_FORMAT_TYPES = {
    "text": gen.ResponseFormat.TYPE_TEXT,
    "json_object": gen.ResponseFormat.TYPE_JSON_OBJECT,
    "json_schema": gen.ResponseFormat.TYPE_JSON_SCHEMA,
}
_FORMAT_NAMES = {kind: name for name, kind in _FORMAT_TYPES.items()}


# ---------------------------------------------------------------- decode (client -> canonical)


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
        return gen.ToolChoice(mode=_CHOICE_MODES[one_of(value, _CHOICE_MODES, "tool_choice")])
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
        required(fmt, "type", "response_format.type"), _FORMAT_TYPES, "response_format.type"
    )
    decoded = gen.ResponseFormat(type=_FORMAT_TYPES[kind])
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


# ---------------------------------------------------------------- encode (canonical -> upstream)


def encode_request(request: gen.GenerateRequest, stream: bool) -> dict[str, Any]:
    """The canonical request -> the body an OpenAI-compatible server expects."""
    body: dict[str, Any] = {"model": request.model, "messages": encode_messages(request.messages)}
    if request.tools:
        body["tools"] = [_encode_tool(i, tool) for i, tool in enumerate(request.tools)]
        # OpenAI answers 400 to tool_choice or parallel_tool_calls without tools ("only allowed
        # when 'tools' are specified"), so both ride only with tools.
        mode = request.tool_choice.mode
        if mode == gen.ToolChoice.MODE_TOOL:
            body["tool_choice"] = {
                "type": "function",
                "function": {"name": request.tool_choice.name},
            }
        elif mode in _CHOICE_NAMES:
            body["tool_choice"] = _CHOICE_NAMES[mode]
        if request.config.HasField("parallel_tool_calls"):
            body["parallel_tool_calls"] = request.config.parallel_tool_calls
    _encode_config(request.config, body)
    if request.metadata:
        body["metadata"] = dict(request.metadata)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.extras_dialect == NAME:
        for key, value in dict_from_struct(request.extras).items():
            body.setdefault(key, value)
    return body


def _encode_tool(i: int, tool: gen.Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    if tool.parameters_json:
        function["parameters"] = _parse_json(
            tool.parameters_json, f"tools[{i}].function.parameters"
        )
    if tool.HasField("strict"):
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _encode_config(config: gen.GenerationConfig, body: dict[str, Any]) -> None:
    # top_k, thinking_budget and include_thinking have no chat field: OpenAI rejects unknown
    # arguments, so they are not sent.
    if config.HasField("max_tokens"):
        body["max_completion_tokens"] = config.max_tokens
    if config.HasField("temperature"):
        body["temperature"] = config.temperature
    if config.HasField("top_p"):
        body["top_p"] = config.top_p
    if config.stop:
        body["stop"] = list(config.stop)
    if config.HasField("seed"):
        body["seed"] = config.seed
    if config.reasoning_effort:
        body["reasoning_effort"] = config.reasoning_effort
    fmt = config.response_format
    if fmt.type in _FORMAT_NAMES:
        body["response_format"] = _encode_response_format(fmt)


def _encode_response_format(fmt: gen.ResponseFormat) -> dict[str, Any]:
    if fmt.type != gen.ResponseFormat.TYPE_JSON_SCHEMA:
        return {"type": _FORMAT_NAMES[fmt.type]}
    # json_schema.name is required on chat; a schema from a surface without names gets one.
    spec: dict[str, Any] = {"name": fmt.name or "response"}
    if fmt.description:
        spec["description"] = fmt.description
    if fmt.schema_json:
        spec["schema"] = _parse_json(fmt.schema_json, "response_format.json_schema.schema")
    if fmt.HasField("strict"):
        spec["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": spec}


def _parse_json(text: str, param: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RhoneError.invalid(f"'{param}' is not valid JSON.", param=param) from None
