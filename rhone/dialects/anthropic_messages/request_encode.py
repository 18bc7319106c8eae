"""The canonical ``GenerateRequest`` -> the Messages body Rhone sends to Anthropic. A ``thinking``
object, ``output_config`` fields or server tools the canonical request cannot say ride in
``extras`` (request_decode.py) and are merged back here, so an Anthropic-to-Anthropic call loses
nothing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from rhone.errors import RhoneError
from rhone.jsonutil import dict_from_struct
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

from .messages import (
    encode_cache_control,
    encode_messages,
)
from .request_decode import NAME, TOOL_CHOICES

# Anthropic requires max_tokens; a request from a surface where it is optional (OpenAI,
# Gemini) gets this. 4096 is what every current Claude model can produce. With a thinking
# budget the default is the budget plus this, as the API wants budget_tokens < max_tokens.
DEFAULT_MAX_TOKENS = 4096

# The API's smallest thinking budget ("budget_tokens: must be >= 1024"); another surface's
# smaller budget (Gemini allows 128) is raised to it rather than refused.
MIN_THINKING_BUDGET = 1024

# Extras never overwrite what the body is built from.
_PROTECTED = frozenset({"model", "max_tokens", "messages", "system", "stream"})

_TOOL_CHOICE_NAMES = {mode: name for name, mode in TOOL_CHOICES.items()}


def encode_request(req: gen.GenerateRequest, stream: bool) -> dict[str, Any]:
    config = req.config
    thinking = _encode_thinking(config)
    if config.HasField("max_tokens"):
        max_tokens = config.max_tokens
    else:
        budget = thinking.get("budget_tokens", 0) if thinking else 0
        max_tokens = DEFAULT_MAX_TOKENS + budget
    body: dict[str, Any] = {"model": req.model, "max_tokens": max_tokens}
    system = _encode_system(req.messages)
    if system is not None:
        body["system"] = system
    body["messages"] = encode_messages(req.messages)
    if req.tools:
        body["tools"] = [_encode_tool(tool, j) for j, tool in enumerate(req.tools)]
    if config.stop:
        body["stop_sequences"] = list(config.stop)
    if config.HasField("temperature"):
        # OpenAI's range is 0-2, Anthropic's 0-1: the top of one is the top of the other.
        body["temperature"] = min(max(config.temperature, 0.0), 1.0)
    if config.HasField("top_p"):
        body["top_p"] = config.top_p
    if config.HasField("top_k"):
        body["top_k"] = config.top_k
    if req.metadata.get("user_id"):
        body["metadata"] = {"user_id": req.metadata["user_id"]}
    if thinking is not None:
        body["thinking"] = thinking
    response_format = config.response_format
    if response_format.type == gen.ResponseFormat.TYPE_JSON_SCHEMA and response_format.schema_json:
        schema = _json_object(response_format.schema_json, "response_format.schema")
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if req.extras_dialect == NAME and req.HasField("extras"):
        _merge_extras(body, dict_from_struct(req.extras))
    choice = _encode_tool_choice(req.tool_choice, config)
    if choice is not None and body.get("tools"):
        # Sent only with tools: the API refuses a tool_choice that has nothing to choose.
        body["tool_choice"] = choice
    if stream:
        body["stream"] = True
    return body


def _encode_system(messages: Iterable[content.Message]) -> str | list[dict[str, Any]] | None:
    """Every system/developer message's text (Anthropic has one system prompt, not turns)."""
    parts = [
        part
        for message in messages
        if message.role in (content.ROLE_SYSTEM, content.ROLE_DEVELOPER)
        for part in message.parts
        if part.HasField("text")
    ]
    if not parts:
        return None
    if len(parts) == 1 and not parts[0].cache_control.type:
        return parts[0].text.text
    # Blocks: more than one text, or a cache breakpoint to carry.
    return [
        encode_cache_control({"type": "text", "text": part.text.text}, part.cache_control)
        for part in parts
        if part.text.text
    ]


def _encode_tool(tool: gen.Tool, j: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {}}
    if tool.parameters_json:
        schema = _json_object(tool.parameters_json, f"tools.{j}.input_schema")
        # Anthropic requires an object schema; OpenAI-style tools sometimes leave "type" out.
        schema.setdefault("type", "object")
    encoded: dict[str, Any] = {"name": tool.name}
    if tool.description:
        encoded["description"] = tool.description
    encoded["input_schema"] = schema
    if tool.HasField("strict"):
        encoded["strict"] = tool.strict
    return encode_cache_control(encoded, tool.cache_control)


def _encode_tool_choice(
    choice: gen.ToolChoice, config: gen.GenerationConfig
) -> dict[str, Any] | None:
    mode = choice.mode
    parallel = config.parallel_tool_calls if config.HasField("parallel_tool_calls") else None
    if mode == gen.ToolChoice.MODE_UNSPECIFIED:
        if parallel is not False:
            return None
        mode = gen.ToolChoice.MODE_AUTO
    encoded: dict[str, Any] = {"type": _TOOL_CHOICE_NAMES[mode]}
    if mode == gen.ToolChoice.MODE_TOOL:
        encoded["name"] = choice.name
    # "none" takes no disable_parallel_tool_use: there is nothing to run in parallel.
    if parallel is not None and mode != gen.ToolChoice.MODE_NONE:
        encoded["disable_parallel_tool_use"] = not parallel
    return encoded


def _encode_thinking(config: gen.GenerationConfig) -> dict[str, Any] | None:
    if config.HasField("include_thinking") and not config.include_thinking:
        return {"type": "disabled"}
    if config.HasField("thinking_budget"):
        if config.thinking_budget <= 0:
            # Gemini's thinkingBudget 0 means "do not think".
            return {"type": "disabled"}
        budget = max(config.thinking_budget, MIN_THINKING_BUDGET)
        return {"type": "enabled", "budget_tokens": budget}
    return None


def _merge_extras(body: dict[str, Any], extras: dict[str, Any]) -> None:
    for key, value in extras.items():
        if key in _PROTECTED:
            continue
        if key == "tools" and isinstance(value, list):
            body.setdefault("tools", []).extend(value)
        elif key == "output_config" and isinstance(value, dict):
            body["output_config"] = {**value, **body.get("output_config", {})}
        else:
            body[key] = value


def _json_object(text: str, param: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RhoneError.invalid(f"{param}: not valid JSON", param=param) from None
    if not isinstance(value, dict):
        raise RhoneError.invalid(f"{param}: expected a JSON object", param=param)
    return value
