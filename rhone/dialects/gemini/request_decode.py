"""A client's GenerateContentRequest (either key spelling) to the canonical GenerateRequest.

Fields with a canonical home are mapped; everything else the client sent (safetySettings,
cachedContent, labels, built-in tools, unmapped generationConfig keys...) goes to ``extras`` in the
body's own shape, so that a Gemini/Vertex upstream gets it back merged into the same places.
"""

from __future__ import annotations

from typing import Any

from rhone.dialects.gemini import fields, schema
from rhone.dialects.gemini.fields import child
from rhone.errors import RhoneError
from rhone.jsonutil import compact_json, struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

_MAPPED_TOP = frozenset(
    {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "model"}
)
_MODEL_PREFIXES = ("publishers/google/models/", "models/")


def model_name(path_model: str) -> str:
    """The model id from a URL path segment: ``models/x``, ``publishers/google/models/x`` and
    ``projects/p/locations/l/publishers/google/models/x`` all name ``x``."""
    for prefix in _MODEL_PREFIXES:
        head, found, tail = path_model.rpartition(prefix)
        if found and (not head or head.endswith("/")):
            return tail
    return path_model


def decode_generate_request(
    flavor: fields.Flavor, body: Any, model: str, *, require_contents: bool = True
) -> gen.GenerateRequest:
    top = fields.message(body, "")
    if not model and "model" in top:
        model = fields.string(top["model"], "model")
    request = gen.GenerateRequest(model=model_name(model))
    extras: dict[str, Any] = {}
    if "systemInstruction" in top:
        request.messages.append(_system(top["systemInstruction"], "systemInstruction"))
    contents = fields.items(top.get("contents", []), "contents")
    if require_contents and not contents:
        raise RhoneError.invalid("contents must not be empty.", param="contents")
    ids = _CallIds()
    for i, item in enumerate(contents):
        request.messages.extend(_content(item, f"contents[{i}]", ids))
    if "tools" in top:
        _tools(top["tools"], request, extras)
    if "toolConfig" in top:
        _tool_config(top["toolConfig"], request, extras)
    if "generationConfig" in top:
        _generation_config(top["generationConfig"], request.config, extras)
    for key, value in top.items():
        if key not in _MAPPED_TOP:
            extras[key] = value
    if extras:
        request.extras.CopyFrom(struct_from_dict(extras))
        request.extras_dialect = flavor.name
    return request


class _CallIds:
    """Ids for function calls and responses sent without one (the Developer API rarely sets
    ``id``). A response without an id answers the oldest open call of the same name, so that
    providers that pair calls and results by id see matching ids."""

    def __init__(self) -> None:
        self._next = 0
        self._seen: set[str] = set()
        self._open: list[tuple[str, str]] = []

    def call(self, given: str, name: str) -> str:
        call_id = given or self._fresh()
        self._seen.add(call_id)
        self._open.append((call_id, name))
        return call_id

    def response(self, given: str, name: str) -> str:
        for i, (call_id, call_name) in enumerate(self._open):
            if call_id == given or (not given and call_name == name):
                del self._open[i]
                return call_id
        return given or self._fresh()

    def _fresh(self) -> str:
        while f"call_{self._next}" in self._seen:
            self._next += 1
        call_id = f"call_{self._next}"
        self._next += 1
        return call_id


def _system(value: Any, field: str) -> content.Message:
    parts = fields.items(fields.message(value, field).get("parts", []), child(field, "parts"))
    message = content.Message(role=content.ROLE_SYSTEM)
    for i, raw in enumerate(parts):
        where = f"{field}.parts[{i}]"
        part = fields.message(raw, where)
        if "text" not in part:
            raise RhoneError.invalid(
                f"{where}: systemInstruction takes text parts only.", param=where
            )
        message.parts.add(text=content.TextPart(text=fields.string(part["text"], f"{where}.text")))
    return message


def _content(value: Any, field: str, ids: _CallIds) -> list[content.Message]:
    """One Content as canonical messages: runs of functionResponse parts become TOOL messages
    (the canonical home of tool results), the other parts keep the content's role."""
    body = fields.message(value, field)
    role_name = fields.string(body.get("role", ""), child(field, "role")).lower()
    if role_name in ("", "user", "function"):  # "function": tool results in older Vertex samples
        role = content.ROLE_USER
    elif role_name == "model":
        role = content.ROLE_ASSISTANT
    else:
        raise RhoneError.invalid(
            f'{field}.role must be "user" or "model", not {role_name!r}.',
            param=child(field, "role"),
        )
    raw_parts = fields.items(body.get("parts"), child(field, "parts"))
    messages: list[content.Message] = []
    for j, raw in enumerate(raw_parts):
        for part in _part(raw, f"{field}.parts[{j}]", role, ids):
            want = content.ROLE_TOOL if part.WhichOneof("kind") == "tool_result" else role
            if not messages or messages[-1].role != want:
                messages.append(content.Message(role=want))
            messages[-1].parts.append(part)
    return messages


def _part(value: Any, field: str, role: int, ids: _CallIds) -> list[content.Part]:
    part = fields.message(value, field)
    signature = ""
    if "thoughtSignature" in part:
        signature = fields.string(part["thoughtSignature"], child(field, "thoughtSignature"))
    if "functionCall" in part:
        if role != content.ROLE_ASSISTANT:
            raise RhoneError.invalid(
                f"{field}: functionCall parts belong to model contents.", param=field
            )
        return [_function_call(part["functionCall"], child(field, "functionCall"), signature, ids)]
    if "functionResponse" in part:
        if role == content.ROLE_ASSISTANT:
            raise RhoneError.invalid(
                f"{field}: functionResponse parts belong to user contents.", param=field
            )
        return [_function_response(part["functionResponse"], child(field, "functionResponse"), ids)]
    if "text" in part and fields.boolean(part.get("thought", False), child(field, "thought")):
        text = fields.string(part["text"], child(field, "text"))
        return [content.Part(thinking=content.ThinkingPart(text=text, signature=signature))]
    data = data_part(part, field)
    out = [content.Part(thinking=content.ThinkingPart(signature=signature))] if signature else []
    if data is not None:
        out.append(data)
    return out


def data_part(part: dict[str, Any], field: str) -> content.Part | None:
    """A text, inlineData, fileData or code part; None for empty text (Gemini streams those to
    carry signatures, and replaying them would be rejected by providers that forbid empty text)."""
    if "text" in part:
        text = fields.string(part["text"], child(field, "text"))
        return content.Part(text=content.TextPart(text=text)) if text else None
    if "inlineData" in part:
        where = child(field, "inlineData")
        blob = fields.message(part["inlineData"], where)
        mime = fields.string(blob.get("mimeType", ""), child(where, "mimeType"))
        data = fields.b64decode(blob.get("data"), child(where, "data"))
        if mime.startswith("image/"):
            return content.Part(image=content.ImagePart(data=data, media_type=mime))
        return content.Part(file=content.FilePart(data=data, media_type=mime))
    if "fileData" in part:
        where = child(field, "fileData")
        ref = fields.message(part["fileData"], where)
        uri = fields.string(ref.get("fileUri"), child(where, "fileUri"))
        mime = fields.string(ref.get("mimeType", ""), child(where, "mimeType"))
        if mime.startswith("image/"):
            return content.Part(image=content.ImagePart(url=uri, media_type=mime))
        return content.Part(file=content.FilePart(url=uri, media_type=mime))
    code = fields.code_text(part)
    if code is not None:
        return content.Part(text=content.TextPart(text=code))
    raise RhoneError.invalid(
        f"{field} has no supported data (text, inlineData, fileData, functionCall, "
        "functionResponse, executableCode, codeExecutionResult).",
        param=field,
    )


def _function_call(value: Any, field: str, signature: str, ids: _CallIds) -> content.Part:
    call = fields.message(value, field)
    name = fields.string(call.get("name"), child(field, "name"))
    args = fields.struct(call.get("args", {}), child(field, "args"))
    call_id = ids.call(fields.string(call.get("id", ""), child(field, "id")), name)
    return content.Part(
        tool_call=content.ToolCallPart(
            id=call_id, name=name, arguments=compact_json(args), signature=signature
        )
    )


def _function_response(value: Any, field: str, ids: _CallIds) -> content.Part:
    response = fields.message(value, field)
    name = fields.string(response.get("name"), child(field, "name"))
    body = fields.struct(response.get("response", {}), child(field, "response"))
    call_id = ids.response(fields.string(response.get("id", ""), child(field, "id")), name)
    result = content.ToolResultPart(call_id=call_id, name=name)
    result.content.add(text=content.TextPart(text=compact_json(body)))
    where = child(field, "parts")
    for k, raw in enumerate(fields.items(response.get("parts", []), where)):
        media = data_part(fields.message(raw, f"{where}[{k}]"), f"{where}[{k}]")
        if media is not None:
            result.content.append(media)
    return content.Part(tool_result=result)


def _tools(value: Any, request: gen.GenerateRequest, extras: dict[str, Any]) -> None:
    builtin: list[dict[str, Any]] = []
    for i, raw in enumerate(fields.items(value, "tools")):
        field = f"tools[{i}]"
        tool = fields.message(raw, field)
        declarations = tool.pop("functionDeclarations", [])
        where = child(field, "functionDeclarations")
        for j, declaration in enumerate(fields.items(declarations, where)):
            request.tools.append(_declaration(declaration, f"{where}[{j}]"))
        if tool:  # googleSearch, codeExecution, urlContext, ...: only a Gemini upstream has them
            builtin.append(tool)
    if builtin:
        extras["tools"] = builtin


def _declaration(value: Any, field: str) -> gen.Tool:
    declaration = fields.message(value, field)
    tool = gen.Tool(name=fields.string(declaration.get("name"), child(field, "name")))
    tool.description = fields.string(
        declaration.get("description", ""), child(field, "description")
    )
    if "parametersJsonSchema" in declaration:
        where = child(field, "parametersJsonSchema")
        tool.parameters_json = compact_json(
            fields.struct(declaration["parametersJsonSchema"], where)
        )
    elif "parameters" in declaration:
        where = child(field, "parameters")
        tool.parameters_json = compact_json(schema.json_schema(declaration["parameters"], where))
    return tool


_CALLING_MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")


def _tool_config(value: Any, request: gen.GenerateRequest, extras: dict[str, Any]) -> None:
    """functionCallingConfig to tool_choice. What tool_choice cannot say exactly (VALIDATED, several
    allowed names, retrievalConfig...) also goes to extras, where it wins on a Gemini upstream."""
    config = fields.message(value, "toolConfig")
    rest = {key: item for key, item in config.items() if key != "functionCallingConfig"}
    if "functionCallingConfig" in config:
        field = "toolConfig.functionCallingConfig"
        calling = fields.message(config["functionCallingConfig"], field)
        mode = fields.enum(calling.get("mode", 0), child(field, "mode"), _CALLING_MODES)
        where = child(field, "allowedFunctionNames")
        names = [
            fields.string(name, f"{where}[{i}]")
            for i, name in enumerate(fields.items(calling.get("allowedFunctionNames", []), where))
        ]
        choice = request.tool_choice
        exact = set(calling) <= {"mode", "allowedFunctionNames"} and not names
        if mode == "AUTO" or mode == "VALIDATED":
            choice.mode = gen.ToolChoice.MODE_AUTO
            exact = exact and mode == "AUTO"
        elif mode == "NONE":
            choice.mode = gen.ToolChoice.MODE_NONE
        elif mode == "ANY" and len(names) == 1:
            choice.mode, choice.name = gen.ToolChoice.MODE_TOOL, names[0]
            exact = set(calling) <= {"mode", "allowedFunctionNames"}
        elif mode == "ANY":
            choice.mode = gen.ToolChoice.MODE_REQUIRED
        if not exact:
            rest["functionCallingConfig"] = calling
    if rest:
        extras["toolConfig"] = rest


_THINKING_LEVELS = ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH")


def _generation_config(value: Any, config: gen.GenerationConfig, extras: dict[str, Any]) -> None:
    field = "generationConfig"
    body = fields.message(value, field)
    rest: dict[str, Any] = {}
    for key, item in body.items():
        where = child(field, key)
        if key == "maxOutputTokens":
            config.max_tokens = fields.integer(item, where)
        elif key == "temperature":
            config.temperature = fields.number(item, where)
        elif key == "topP":
            config.top_p = fields.number(item, where)
        elif key == "topK" and _is_int32(fields.number(item, where)):
            config.top_k = int(fields.number(item, where))  # a float in Gemini, an int canonically
        elif key == "stopSequences":
            config.stop.extend(
                fields.string(s, f"{where}[{i}]") for i, s in enumerate(fields.items(item, where))
            )
        elif key == "seed":
            config.seed = fields.integer(item, where, bits=64)
        elif key == "thinkingConfig":
            thinking = _thinking_config(item, where, config)
            if thinking:
                rest[key] = thinking
        elif key not in ("responseMimeType", "responseSchema", "responseJsonSchema"):
            rest[key] = item
    rest.update(_response_format(body, config.response_format))
    if rest:
        extras["generationConfig"] = rest


def _is_int32(value: float) -> bool:
    return value.is_integer() and -(2**31) <= value < 2**31


def _thinking_config(value: Any, field: str, config: gen.GenerationConfig) -> dict[str, Any]:
    thinking = fields.message(value, field)
    rest: dict[str, Any] = {}
    for key, item in thinking.items():
        where = child(field, key)
        if key == "includeThoughts":
            config.include_thinking = fields.boolean(item, where)
        elif key == "thinkingBudget":
            config.thinking_budget = fields.integer(item, where)  # -1: dynamic, 0: off
        elif key == "thinkingLevel":
            level = fields.enum(item, where, _THINKING_LEVELS, numbered=False)
            if level != "THINKING_LEVEL_UNSPECIFIED":
                config.reasoning_effort = level.lower()
        else:
            rest[key] = item
    return rest


def _response_format(body: dict[str, Any], out: gen.ResponseFormat) -> dict[str, Any]:
    """responseMimeType (+ schema) to a ResponseFormat; anything else (text/x.enum, a schema with
    no JSON mime type) is returned to stay in extras as sent."""
    keys = ("responseMimeType", "responseSchema", "responseJsonSchema")
    given = {key: body[key] for key in keys if key in body}
    if not given:
        return {}
    field = "generationConfig.responseMimeType"
    mime = fields.string(given.get("responseMimeType", ""), field).lower()
    if mime == "application/json":
        if "responseJsonSchema" in given:
            where = "generationConfig.responseJsonSchema"
            out.type = gen.ResponseFormat.TYPE_JSON_SCHEMA
            out.schema_json = compact_json(fields.struct(given["responseJsonSchema"], where))
        elif "responseSchema" in given:
            converted = schema.json_schema(
                given["responseSchema"], "generationConfig.responseSchema"
            )
            out.type = gen.ResponseFormat.TYPE_JSON_SCHEMA
            out.schema_json = compact_json(converted)
        else:
            out.type = gen.ResponseFormat.TYPE_JSON_OBJECT
        return {}
    if mime == "text/plain" and len(given) == 1:
        out.type = gen.ResponseFormat.TYPE_TEXT
        return {}
    return given
