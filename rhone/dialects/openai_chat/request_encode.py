"""The canonical ``GenerateRequest`` -> the chat body Rhone sends to OpenAI or an
OpenAI-compatible server. Messages are encoded in ``messages.py``."""

from __future__ import annotations

from typing import Any

import orjson

from rhone.errors import RhoneError
from rhone.jsonutil import dict_from_struct
from rhone.v1 import generation_pb2 as gen

from .messages import encode_messages
from .request_decode import CHOICE_MODES, FORMAT_TYPES, NAME

_CHOICE_NAMES = {mode: name for name, mode in CHOICE_MODES.items()}
_FORMAT_NAMES = {kind: name for name, kind in FORMAT_TYPES.items()}


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
