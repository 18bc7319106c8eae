"""The canonical GenerateRequest as the camelCase body Gemini and Vertex expect upstream.

The model is not in the body: it is in the URL, which the connector builds.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from rhone.dialects.gemini import fields, messages
from rhone.jsonutil import dict_from_struct
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

_SYSTEM_ROLES = (content.ROLE_SYSTEM, content.ROLE_DEVELOPER)


def encode_request(
    flavor: fields.Flavor, request: gen.GenerateRequest, stream: bool
) -> dict[str, Any]:
    del stream  # streaming is chosen by the URL (:streamGenerateContent?alt=sse), not the body
    history = list(request.messages)
    lead = 0
    while lead < len(history) and history[lead].role in _SYSTEM_ROLES:
        lead += 1
    body: dict[str, Any] = {"contents": _contents(history[lead:])}
    system = [{"text": p.text.text} for m in history[:lead] for p in m.parts if p.HasField("text")]
    if system:
        body["systemInstruction"] = {"parts": system}
        if flavor.vertex:
            body["systemInstruction"]["role"] = "user"  # as google-genai sends it to Vertex
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
    tool_config = _tool_config(request.tool_choice)
    if tool_config:
        body["toolConfig"] = tool_config
    generation = _generation_config(request.config, request.model)
    if generation:
        body["generationConfig"] = generation
    if request.extras_dialect == flavor.name and request.extras.fields:
        merge_extras(body, dict_from_struct(request.extras))
    return body


def _contents(history: list[content.Message]) -> list[dict[str, Any]]:
    """Contents with a role on every one (Vertex rejects a missing role). Consecutive TOOL messages
    share one content: Gemini wants the responses to parallel calls together."""
    tool_names = {
        p.tool_call.id: p.tool_call.name
        for m in history
        for p in m.parts
        if p.WhichOneof("kind") == "tool_call"
    }
    contents: list[dict[str, Any]] = []
    previous = content.ROLE_UNSPECIFIED
    for message in history:
        encoded = messages.encode_parts(message.parts, messages.UPSTREAM, tool_names)
        if not encoded:  # e.g. an assistant turn of another provider's thinking only
            continue
        if message.role == content.ROLE_TOOL and previous == content.ROLE_TOOL:
            contents[-1]["parts"].extend(encoded)
            continue
        role = "model" if message.role == content.ROLE_ASSISTANT else "user"
        contents.append({"role": role, "parts": encoded})
        previous = message.role
    return contents


def _declaration(tool: gen.Tool) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    if tool.parameters_json:
        declaration["parametersJsonSchema"] = orjson.loads(tool.parameters_json)
    return declaration


def _tool_config(choice: gen.ToolChoice) -> dict[str, Any]:
    mode = choice.mode
    if mode == gen.ToolChoice.MODE_AUTO:
        calling: dict[str, Any] = {"mode": "AUTO"}
    elif mode == gen.ToolChoice.MODE_NONE:
        calling = {"mode": "NONE"}
    elif mode == gen.ToolChoice.MODE_REQUIRED:
        calling = {"mode": "ANY"}
    elif mode == gen.ToolChoice.MODE_TOOL:
        calling = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    else:
        return {}
    return {"functionCallingConfig": calling}


def _generation_config(config: gen.GenerationConfig, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if config.HasField("max_tokens"):
        out["maxOutputTokens"] = config.max_tokens
    if config.HasField("temperature"):
        out["temperature"] = config.temperature
    if config.HasField("top_p"):
        out["topP"] = config.top_p
    if config.HasField("top_k"):
        out["topK"] = config.top_k
    if config.stop:
        out["stopSequences"] = list(config.stop)
    if config.HasField("seed"):
        out["seed"] = config.seed
    out.update(_response_format(config.response_format))
    thinking = _thinking_config(config, model)
    if thinking:
        out["thinkingConfig"] = thinking
    return out


def _response_format(rf: gen.ResponseFormat) -> dict[str, Any]:
    if rf.type == gen.ResponseFormat.TYPE_JSON_SCHEMA:
        out: dict[str, Any] = {"responseMimeType": "application/json"}
        if rf.schema_json:
            out["responseJsonSchema"] = orjson.loads(rf.schema_json)
        return out
    if rf.type == gen.ResponseFormat.TYPE_JSON_OBJECT:
        return {"responseMimeType": "application/json"}
    if rf.type == gen.ResponseFormat.TYPE_TEXT:
        return {"responseMimeType": "text/plain"}
    return {}


# Gemini 3 takes thinkingLevel; Gemini 2.x rejects it and takes a token budget instead.
_LEVELS = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
}
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
_BUDGET_ONLY_MODEL = re.compile(r"(^|/)gemini-(1|2)[.-]")


def _thinking_config(config: gen.GenerationConfig, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if config.HasField("include_thinking"):
        out["includeThoughts"] = config.include_thinking
    effort = config.reasoning_effort.lower()
    if config.HasField("thinking_budget"):
        out["thinkingBudget"] = config.thinking_budget
    elif effort in _LEVELS:
        if _BUDGET_ONLY_MODEL.search(model):
            out["thinkingBudget"] = _BUDGETS[effort]
        else:
            out["thinkingLevel"] = _LEVELS[effort]
    return out


def merge_extras(body: dict[str, Any], extras: dict[str, Any]) -> None:
    """Puts the client's own fields back where they came from: built-in tools join the function
    declarations, generationConfig/toolConfig keys merge into ours (theirs win), the rest is set."""
    for key, value in extras.items():
        if key == "tools" and isinstance(value, list):
            body.setdefault("tools", []).extend(value)
        elif isinstance(value, dict) and isinstance(body.get(key), dict):
            _deep_merge(body[key], value)
        else:
            body[key] = value


def _deep_merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
