"""A client's `POST /v1/responses` body as a canonical request
(docs/protocols/openai-responses.md#request-fields, #input-items).

What has no canonical field is kept: Responses state controls (`previous_response_id`, `store`,
`conversation`, `background`, `stream_options`) go to ``DecodedCall.options`` for the translator,
which owns state; everything else unknown goes to ``extras`` for an OpenAI Responses upstream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rhone.dialects.base import DecodedCall
from rhone.dialects.openai_responses import compaction, messages
from rhone.dialects.openai_responses.messages import (
    expect_list,
    expect_mapping,
    invalid,
    optional_bool,
    optional_str,
    required_str,
)
from rhone.jsonutil import compact_json, struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

# Handled here, each into a canonical field (or DecodedCall.stream).
_CANONICAL_KEYS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "text",
        "reasoning",
        "metadata",
        "stream",
    }
)
# Responses state and transport controls: Rhone keeps the state, so these never go upstream.
_OPTION_KEYS = frozenset(
    {"previous_response_id", "store", "conversation", "background", "stream_options"}
)

_ROLES: dict[str, int] = {
    "user": content.ROLE_USER,
    "assistant": content.ROLE_ASSISTANT,
    "system": content.ROLE_SYSTEM,
    "developer": content.ROLE_DEVELOPER,
}
_INT32_MAX = 2**31 - 1


def decode_request(body: Mapping[str, Any], params: Mapping[str, str]) -> DecodedCall:
    body = expect_mapping(body, "body")
    request = gen.GenerateRequest(model=optional_str(body, "model", "model") or "")
    extras: dict[str, Any] = {
        key: value
        for key, value in body.items()
        if key not in _CANONICAL_KEYS and key not in _OPTION_KEYS
    }
    options = _options(body)

    instructions = optional_str(body, "instructions", "instructions")
    if instructions is not None:
        options["instructions"] = instructions
        if instructions:
            request.messages.append(_text_message(content.ROLE_SYSTEM, instructions))
    request.messages.extend(_Transcript().decode(body.get("input")))
    _decode_tools(body, request, extras)
    _decode_tool_choice(body.get("tool_choice"), request, extras)
    _decode_config(body, request.config, extras)
    _decode_metadata(body.get("metadata"), request)
    _check_echoed(body)

    if extras:
        request.extras.CopyFrom(struct_from_dict(extras))
        request.extras_dialect = messages.NAME
    stream = optional_bool(body, "stream", "stream") or False
    return DecodedCall(request=request, stream=stream, options=options)


def _options(body: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"store": True}
    previous = optional_str(body, "previous_response_id", "previous_response_id")
    if previous is not None:
        options["previous_response_id"] = previous
    store = optional_bool(body, "store", "store")
    if store is not None:
        options["store"] = store
    for key in ("conversation", "background", "stream_options"):
        if body.get(key) is not None:
            options[key] = body[key]
    return options


def _text_message(role: int, text: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=text))])  # type: ignore[arg-type]


class _Transcript:
    """Builds canonical messages from input items. Consecutive assistant-side items (message,
    function_call, reasoning) form one assistant message, consecutive function_call_output items
    one tool message; tool results learn their tool's name from the call (Gemini needs it)."""

    def __init__(self) -> None:
        self.messages: list[content.Message] = []
        self._tool_names: dict[str, str] = {}

    def decode(self, value: Any) -> list[content.Message]:
        if value is None:
            return []
        if isinstance(value, str):
            return [_text_message(content.ROLE_USER, value)]
        for i, item in enumerate(expect_list(value, "input")):
            self._item(expect_mapping(item, f"input[{i}]"), f"input[{i}]")
        return self.messages

    def _item(self, item: Mapping[str, Any], param: str) -> None:
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = "message"
        if kind == "message":
            self._message(item, param)
        elif kind == "function_call":
            part = messages.decode_function_call(item, param)
            self._tool_names[part.tool_call.id] = part.tool_call.name
            self._append(content.ROLE_ASSISTANT, [part])
        elif kind == "function_call_output":
            self._append(content.ROLE_TOOL, [self._tool_result(item, param)])
        elif kind == "reasoning":
            reasoning = messages.decode_reasoning(item, param)
            if reasoning is not None:
                thinking = reasoning.thinking
                thinking.origin, thinking.signature = messages.untag_signature(thinking.signature)
                self._append(content.ROLE_ASSISTANT, [reasoning])
        elif kind == compaction.ITEM_TYPE:
            part = compaction.decode_compaction_item(item, param)
            self.messages.append(content.Message(role=content.ROLE_USER, parts=[part]))
        elif isinstance(kind, str):
            # Hosted-tool items point at tools Rhone cannot replay. An item_reference is
            # resolved by the translator before decoding (services/translator/item_references.py);
            # one that reaches the dialect has no stored item to stand for.
            raise invalid(
                f"{param}.type", f"Unsupported input item type '{kind}' at '{param}.type'."
            )
        else:
            raise invalid(f"{param}.type", f"Missing or invalid input item type at '{param}.type'.")

    def _message(self, item: Mapping[str, Any], param: str) -> None:
        role_name = required_str(item, "role", f"{param}.role")
        role = _ROLES.get(role_name)
        if role is None:
            raise invalid(f"{param}.role", f"Invalid value for '{param}.role': '{role_name}'.")
        if "content" not in item:
            raise invalid(f"{param}.content", f"Missing required parameter: '{param}.content'.")
        parts = messages.decode_message_content(item["content"], f"{param}.content")
        if role == content.ROLE_ASSISTANT:
            self._append(role, parts)
        else:
            self.messages.append(content.Message(role=role, parts=parts))  # type: ignore[arg-type]

    def _tool_result(self, item: Mapping[str, Any], param: str) -> content.Part:
        call_id = required_str(item, "call_id", f"{param}.call_id")
        output = item.get("output")
        if output is None:
            raise invalid(f"{param}.output", f"Missing required parameter: '{param}.output'.")
        result = content.ToolResultPart(call_id=call_id, name=self._tool_names.get(call_id, ""))
        result.content.extend(messages.decode_message_content(output, f"{param}.output"))
        return content.Part(tool_result=result)

    def _append(self, role: int, parts: list[content.Part]) -> None:
        if role in (content.ROLE_ASSISTANT, content.ROLE_TOOL):
            if self.messages and self.messages[-1].role == role:
                self.messages[-1].parts.extend(parts)
                return
        self.messages.append(content.Message(role=role, parts=parts))  # type: ignore[arg-type]


def _decode_tools(
    body: Mapping[str, Any], request: gen.GenerateRequest, extras: dict[str, Any]
) -> None:
    """Function tools are canonical; hosted tools (web_search, file_search, mcp, ...) have no
    canonical form and ride in extras for an OpenAI upstream."""
    hosted: list[Any] = []
    for i, tool in enumerate(expect_list(body.get("tools") or [], "tools")):
        param = f"tools[{i}]"
        tool = expect_mapping(tool, param)
        kind = tool.get("type")
        if kind == "function":
            request.tools.append(_function_tool(tool, param))
        elif isinstance(kind, str):
            hosted.append(tool)
        else:
            raise invalid(f"{param}.type", f"Missing or invalid tool type at '{param}.type'.")
    if hosted:
        extras["tools"] = hosted


def _function_tool(tool: Mapping[str, Any], param: str) -> gen.Tool:
    out = gen.Tool(
        name=required_str(tool, "name", f"{param}.name"),
        description=optional_str(tool, "description", f"{param}.description") or "",
    )
    parameters = tool.get("parameters")
    if parameters is not None:
        out.parameters_json = compact_json(expect_mapping(parameters, f"{param}.parameters"))
    strict = optional_bool(tool, "strict", f"{param}.strict")
    if strict is not None:
        out.strict = strict
    return out


def _decode_tool_choice(value: Any, request: gen.GenerateRequest, extras: dict[str, Any]) -> None:
    if value is None:
        return
    if isinstance(value, str):
        mode = messages.TOOL_CHOICE_MODES.get(value)
        if mode is None:
            raise invalid("tool_choice", f"Invalid value for 'tool_choice': '{value}'.")
        request.tool_choice.mode = mode  # type: ignore[assignment]
        return
    choice = expect_mapping(value, "tool_choice")
    if choice.get("type") == "function":
        request.tool_choice.mode = gen.ToolChoice.MODE_TOOL
        request.tool_choice.name = required_str(choice, "name", "tool_choice.name")
    else:  # allowed_tools, hosted-tool, mcp and custom forms
        extras["tool_choice"] = dict(choice)


def _decode_config(
    body: Mapping[str, Any], config: gen.GenerationConfig, extras: dict[str, Any]
) -> None:
    parallel = optional_bool(body, "parallel_tool_calls", "parallel_tool_calls")
    if parallel is not None:
        config.parallel_tool_calls = parallel
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        if not _is_int(max_tokens) or not 0 <= max_tokens <= _INT32_MAX:
            raise invalid("max_output_tokens", "Invalid value for 'max_output_tokens'.")
        config.max_tokens = max_tokens
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise invalid(key, f"Invalid type for '{key}': expected a number.")
            setattr(config, key, float(value))
    _decode_text(body.get("text"), config, extras)
    _decode_reasoning(body.get("reasoning"), config, extras)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_text(value: Any, config: gen.GenerationConfig, extras: dict[str, Any]) -> None:
    if value is None:
        return
    text = expect_mapping(value, "text")
    rest = {key: item for key, item in text.items() if key != "format"}
    if rest:  # verbosity
        extras["text"] = rest
    fmt = text.get("format")
    if fmt is None:
        return
    fmt = expect_mapping(fmt, "text.format")
    out = config.response_format
    kind = fmt.get("type")
    if kind == "text":
        out.type = gen.ResponseFormat.TYPE_TEXT
    elif kind == "json_object":
        out.type = gen.ResponseFormat.TYPE_JSON_OBJECT
    elif kind == "json_schema":
        # Flat here, unlike chat's {"json_schema": {...}} wrapper
        # (docs/protocols/openai-responses.md#request-fields).
        out.type = gen.ResponseFormat.TYPE_JSON_SCHEMA
        out.name = required_str(fmt, "name", "text.format.name")
        out.description = optional_str(fmt, "description", "text.format.description") or ""
        schema = fmt.get("schema")
        if schema is None:
            raise invalid("text.format.schema", "Missing required parameter: 'text.format.schema'.")
        out.schema_json = compact_json(expect_mapping(schema, "text.format.schema"))
        strict = optional_bool(fmt, "strict", "text.format.strict")
        if strict is not None:
            out.strict = strict
    else:
        raise invalid("text.format.type", f"Invalid value for 'text.format.type': {kind!r}.")


def _decode_reasoning(value: Any, config: gen.GenerationConfig, extras: dict[str, Any]) -> None:
    """`effort` is canonical; asking for a summary means the client wants thinking shown. The
    summary style (when not "auto") and any other reasoning key stay in extras."""
    if value is None:
        return
    reasoning = expect_mapping(value, "reasoning")
    effort = optional_str(reasoning, "effort", "reasoning.effort")
    if effort:
        config.reasoning_effort = effort
    rest: dict[str, Any] = {}
    for key, item in reasoning.items():
        if key == "effort" or item is None:
            continue
        if key in ("summary", "generate_summary"):
            if not isinstance(item, str):
                raise invalid(f"reasoning.{key}", f"Invalid type for 'reasoning.{key}'.")
            config.include_thinking = True
            if key == "summary" and item == "auto":
                continue
        rest[key] = item
    if rest:
        extras["reasoning"] = rest


def _decode_metadata(value: Any, request: gen.GenerateRequest) -> None:
    if value is None:
        return
    for key, item in expect_mapping(value, "metadata").items():
        if not isinstance(item, str):
            raise invalid(
                f"metadata.{key}", f"Invalid type for 'metadata.{key}': expected a string."
            )
        request.metadata[key] = item


# Fields with no canonical home that the Response object echoes (stream_encode.request_echo):
# checked here, so that a bad value is the client's 400 and never a Response that fails its
# own schema. Bounds from the API reference (Open Responses CreateResponseBody).
_ECHOED_STRINGS = ("service_tier", "safety_identifier", "prompt_cache_key", "user")
_ECHOED_NUMBERS = ("presence_penalty", "frequency_penalty")
_TRUNCATIONS = ("auto", "disabled")


def _check_echoed(body: Mapping[str, Any]) -> None:
    for key in _ECHOED_STRINGS:
        optional_str(body, key, key)
    for key in _ECHOED_NUMBERS:
        value = body.get(key)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise invalid(key, f"Invalid type for '{key}': expected a number.")
    truncation = body.get("truncation")
    if truncation is not None and truncation not in _TRUNCATIONS:
        raise invalid("truncation", f"Invalid value for 'truncation': {truncation!r}.")
    top_logprobs = body.get("top_logprobs")
    if top_logprobs is not None and (not _is_int(top_logprobs) or not 0 <= top_logprobs <= 20):
        raise invalid("top_logprobs", "Invalid value for 'top_logprobs': expected 0 to 20.")
    max_tool_calls = body.get("max_tool_calls")
    if max_tool_calls is not None and (not _is_int(max_tool_calls) or max_tool_calls < 1):
        raise invalid("max_tool_calls", "Invalid value for 'max_tool_calls': expected 1 or more.")
