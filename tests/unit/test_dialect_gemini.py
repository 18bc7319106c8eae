"""The Gemini/Vertex dialect: table-driven decodes and encodes, google-genai's own types as the
judge of what we emit, and hypothesis round trips for requests, responses and streams."""

from __future__ import annotations

import base64
import itertools
import json
import logging
from typing import Any

import orjson
import pytest
from google.genai import _api_client, _common, models, types
from google.genai import errors as genai_errors
from hypothesis import given, settings
from hypothesis import strategies as st

from rhone import canonical
from rhone.dialects.base import DecodedCall
from rhone.dialects.gemini import (
    DIALECT,
    VERTEX_DIALECT,
    count_tokens_request,
    encode_count_tokens,
)
from rhone.errors import RhoneError, make_failure
from rhone.jsonutil import dict_from_struct, struct_from_dict
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen

logging.getLogger("google_genai").setLevel(logging.ERROR)  # "non-text parts" warnings

# ---------------------------------------------------------------------------------------------
# builders


def text(value: str) -> content.Part:
    return content.Part(text=content.TextPart(text=value))


def thinking(value: str = "", signature: str = "", origin: str = "") -> content.Part:
    return content.Part(
        thinking=content.ThinkingPart(text=value, signature=signature, origin=origin)
    )


def call(
    call_id: str, name: str, arguments: str, signature: str = "", origin: str = ""
) -> content.Part:
    return content.Part(
        tool_call=content.ToolCallPart(
            id=call_id, name=name, arguments=arguments, signature=signature, signature_origin=origin
        )
    )


def result(call_id: str, name: str, value: str, is_error: bool = False) -> content.Part:
    part = content.ToolResultPart(call_id=call_id, name=name, is_error=is_error)
    part.content.append(text(value))
    return content.Part(tool_result=part)


def msg(role: int, *parts: content.Part) -> content.Message:
    return content.Message(role=role, parts=list(parts))  # type: ignore[arg-type]


SYSTEM, USER, MODEL, TOOL = (
    content.ROLE_SYSTEM,
    content.ROLE_USER,
    content.ROLE_ASSISTANT,
    content.ROLE_TOOL,
)


def decode(
    body: dict[str, Any],
    *,
    model: str = "gemini-2.5-flash",
    dialect=DIALECT,
    method: str = "generateContent",
) -> gen.GenerateRequest:
    # Through bytes, as the translator gets it.
    return dialect.decode_request(
        orjson.loads(orjson.dumps(body)), {"model": model, "method": method}
    ).request


def sdk_body(
    contents: Any, config: types.GenerateContentConfig | None = None, *, vertex: bool = False
) -> dict[str, Any]:
    """The exact JSON body google-genai sends (its converters plus its final dict encoding)."""
    client = _api_client.BaseApiClient(
        vertexai=vertex,
        api_key="k" if not vertex else None,
        project="p" if vertex else None,
        location="us-central1" if vertex else None,
    )
    params = types._GenerateContentParameters(
        model="gemini-2.5-flash", contents=contents, config=config
    )
    convert = (
        models._GenerateContentParameters_to_vertex
        if vertex
        else models._GenerateContentParameters_to_mldev
    )
    body = convert(client, params, None, params)
    body.pop("config", None)
    body = _common.encode_unserializable_types(_common.convert_to_dict(body))
    return {key: value for key, value in body.items() if not key.startswith("_")}


def sdk_response(body: dict[str, Any], *, vertex: bool = False) -> types.GenerateContentResponse:
    """What google-genai makes of one response body or stream chunk."""
    convert = (
        models._GenerateContentResponse_from_vertex
        if vertex
        else models._GenerateContentResponse_from_mldev
    )
    return types.GenerateContentResponse._from_response(response=convert(body), kwargs={})


def request_of(
    *messages: content.Message, model: str = "gemini-2.5-flash", **fields: Any
) -> gen.GenerateRequest:
    return gen.GenerateRequest(model=model, messages=list(messages), **fields)


# ---------------------------------------------------------------------------------------------
# decode_request: contents


DECODE_CASES = [
    pytest.param(
        {"contents": [{"parts": [{"text": "Hi"}]}]},
        [msg(USER, text("Hi"))],
        id="single content without role is the user",
    ),
    pytest.param(
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        },
        [msg(SYSTEM, text("Be brief."), text("Be kind.")), msg(USER, text("Hi"))],
        id="system instruction becomes one leading system message",
    ),
    pytest.param(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "plan", "thought": True, "thoughtSignature": "c2ln"},
                        {"text": "Hello"},
                    ],
                },
            ]
        },
        [msg(USER, text("Hi")), msg(MODEL, thinking("plan", "c2ln"), text("Hello"))],
        id="thought part with signature becomes thinking",
    ),
    pytest.param(
        {
            "contents": [
                {
                    "role": "model",
                    "parts": [
                        {"text": "Hello", "thoughtSignature": "c2ln"},
                        {"text": "", "thoughtSignature": "ZW5k"},
                    ],
                }
            ]
        },
        [msg(MODEL, thinking(signature="c2ln"), text("Hello"), thinking(signature="ZW5k"))],
        id="signature on a text part becomes a signature-only thinking part before it",
    ),
    pytest.param(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather?"}]},
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "c2ln",
                        },
                        {"functionCall": {"name": "get_time", "args": {}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_time", "response": {"time": "noon"}}},
                        {"functionResponse": {"name": "get_weather", "response": {"temp": 20}}},
                    ],
                },
            ]
        },
        [
            msg(USER, text("Weather?")),
            msg(
                MODEL,
                call("call_0", "get_weather", '{"city":"Paris"}', "c2ln"),
                call("call_1", "get_time", "{}"),
            ),
            msg(
                TOOL,
                result("call_1", "get_time", '{"time":"noon"}'),
                result("call_0", "get_weather", '{"temp":20}'),
            ),
        ],
        id="calls without ids get ids and responses pair with them by name",
    ),
    pytest.param(
        {
            "contents": [
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"id": "a1", "name": "f", "args": {"x": 1}}},
                        {"functionCall": {"id": "a2", "name": "f", "args": {"x": 2}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"id": "a2", "name": "f", "response": {"y": 2}}},
                        {"functionResponse": {"name": "f", "response": {"y": 1}}},
                    ],
                },
            ]
        },
        [
            msg(MODEL, call("a1", "f", '{"x":1}'), call("a2", "f", '{"x":2}')),
            msg(TOOL, result("a2", "f", '{"y":2}'), result("a1", "f", '{"y":1}')),
        ],
        id="client ids are kept and an id-less response takes the call still open",
    ),
    pytest.param(
        {
            "contents": [
                {"role": "model", "parts": [{"functionCall": {"id": "c", "name": "f"}}]},
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"id": "c", "name": "f", "response": {"ok": True}}},
                        {"text": "and now?"},
                    ],
                },
            ]
        },
        [
            msg(MODEL, call("c", "f", "{}")),
            msg(TOOL, result("c", "f", '{"ok":true}')),
            msg(USER, text("and now?")),
        ],
        id="function responses and text in one content split into tool and user messages",
    ),
    pytest.param(
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "image/png",
                                "data": base64.b64encode(b"\x89PNG").decode(),
                            }
                        },
                        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERg"}},
                        {
                            "fileData": {
                                "mimeType": "image/jpeg",
                                "fileUri": "https://x.test/cat.jpg",
                            }
                        },
                        {"fileData": {"mimeType": "video/mp4", "fileUri": "files/abc"}},
                    ],
                }
            ]
        },
        [
            msg(
                USER,
                content.Part(image=content.ImagePart(data=b"\x89PNG", media_type="image/png")),
                content.Part(file=content.FilePart(data=b"%PDF", media_type="application/pdf")),
                content.Part(
                    image=content.ImagePart(url="https://x.test/cat.jpg", media_type="image/jpeg")
                ),
                content.Part(file=content.FilePart(url="files/abc", media_type="video/mp4")),
            )
        ],
        id="inline and file data become image and file parts (URL-safe base64 without padding too)",
    ),
    pytest.param(
        {
            "contents": [
                {
                    "role": "model",
                    "parts": [
                        {"executableCode": {"language": "PYTHON", "code": "print(1)"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "1\n"}},
                    ],
                }
            ]
        },
        [msg(MODEL, text("```python\nprint(1)\n```"), text("1\n"))],
        id="code execution history reads as text",
    ),
    pytest.param(
        {
            "contents": [
                {"role": "user", "parts": [{"text": ""}, {"text": "x"}]},
                {"role": "model", "parts": [{"text": ""}]},
            ]
        },
        [msg(USER, text("x"))],
        id="empty text parts and contents left empty are dropped",
    ),
]


@pytest.mark.parametrize(("body", "messages"), DECODE_CASES)
def test_decode_request_contents(body: dict[str, Any], messages: list[content.Message]) -> None:
    assert list(decode(body).messages) == messages


def test_decode_request_takes_model_from_path_and_stream_from_method() -> None:
    body = {"contents": [{"parts": [{"text": "Hi"}]}]}
    for path_model in (
        "gemini-2.5-flash",
        "models/gemini-2.5-flash",
        "publishers/google/models/gemini-2.5-flash",
        "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
    ):
        assert decode(body, model=path_model).model == "gemini-2.5-flash"
    assert decode(body, model="tunedModels/mine").model == "tunedModels/mine"
    params = {"model": "gemini-2.5-flash", "method": "streamGenerateContent"}
    assert DIALECT.decode_request(body, params).stream is True
    assert DIALECT.decode_request(body, {**params, "method": "generateContent"}).stream is False
    assert DIALECT.decode_request({**body, "stream": True}, {"model": "m"}).stream is False


CAMEL_BODY: dict[str, Any] = {
    "systemInstruction": {"role": "user", "parts": [{"text": "sys"}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "hi"},
                {"inlineData": {"mimeType": "image/png", "data": "AAEC"}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "files/x"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {
                        "id": "c1",
                        "name": "f",
                        "args": {"snake_key": 1, "camelKey": {"inner_key": [1, 2]}},
                    },
                    "thoughtSignature": "c2ln",
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "c1",
                        "name": "f",
                        "response": {"out_value": {"deep_key": True}},
                    }
                }
            ],
        },
    ],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "f",
                    "description": "d",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"snake_key": {"type": "integer"}},
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    "generationConfig": {
        "maxOutputTokens": 100,
        "topP": 0.5,
        "topK": 40,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object", "properties": {"snake_key": {"type": "string"}}},
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512},
        "candidateCount": 1,
    },
}
SNAKE_BODY: dict[str, Any] = {
    "system_instruction": {"role": "user", "parts": [{"text": "sys"}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "hi"},
                {"inline_data": {"mime_type": "image/png", "data": "AAEC"}},
                {"file_data": {"mime_type": "application/pdf", "file_uri": "files/x"}},
            ],
        },
        {
            "role": "model",
            "parts": [
                {
                    "function_call": {
                        "id": "c1",
                        "name": "f",
                        "args": {"snake_key": 1, "camelKey": {"inner_key": [1, 2]}},
                    },
                    "thought_signature": "c2ln",
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {
                    "function_response": {
                        "id": "c1",
                        "name": "f",
                        "response": {"out_value": {"deep_key": True}},
                    }
                }
            ],
        },
    ],
    "tools": [
        {
            "function_declarations": [
                {
                    "name": "f",
                    "description": "d",
                    "parameters_json_schema": {
                        "type": "object",
                        "properties": {"snake_key": {"type": "integer"}},
                    },
                }
            ]
        }
    ],
    "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
    "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    "generation_config": {
        "max_output_tokens": 100,
        "top_p": 0.5,
        "top_k": 40,
        "stop_sequences": ["END"],
        "response_mime_type": "application/json",
        "response_json_schema": {"type": "object", "properties": {"snake_key": {"type": "string"}}},
        "thinking_config": {"include_thoughts": True, "thinking_budget": 512},
        "candidate_count": 1,
    },
}


def test_snake_case_body_decodes_like_its_camel_case_twin_and_struct_keys_stay() -> None:
    camel, snake = decode(CAMEL_BODY), decode(SNAKE_BODY)
    assert snake == camel
    tool_call = camel.messages[2].parts[0].tool_call
    assert orjson.loads(tool_call.arguments) == {"snake_key": 1, "camelKey": {"inner_key": [1, 2]}}
    tool_result = camel.messages[3].parts[0].tool_result
    assert orjson.loads(tool_result.content[0].text.text) == {"out_value": {"deep_key": True}}
    assert orjson.loads(camel.tools[0].parameters_json)["properties"] == {
        "snake_key": {"type": "integer"}
    }
    assert orjson.loads(camel.config.response_format.schema_json)["properties"] == {
        "snake_key": {"type": "string"}
    }
    assert camel.tool_choice == gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="f")
    assert (camel.config.max_tokens, camel.config.top_k, list(camel.config.stop)) == (
        100,
        40,
        ["END"],
    )
    assert (camel.config.thinking_budget, camel.config.include_thinking) == (512, True)
    assert dict_from_struct(camel.extras) == {
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"candidateCount": 1},
    }


def test_body_built_by_google_genai_decodes() -> None:
    """google-genai mixes spellings: camelCase on its converters' paths, snake_case inside
    pydantic models it dumps whole (thinkingConfig, Schema, functionResponse)."""
    config = types.GenerateContentConfig(
        system_instruction="be brief",
        temperature=0.25,
        thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=256),
        tools=[
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name="get_weather",
                        description="Weather of a city.",
                        parameters=types.Schema(
                            type=types.Type.OBJECT,
                            properties={
                                "city_name": types.Schema(
                                    type=types.Type.STRING, max_length=30, nullable=True
                                )
                            },
                            required=["city_name"],
                            property_ordering=["city_name"],
                        ),
                    )
                ]
            ),
            types.Tool(google_search=types.GoogleSearch()),
        ],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.AUTO
            )
        ),
        safety_settings=[
            types.SafetySetting(
                category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                threshold=types.HarmBlockThreshold.BLOCK_NONE,
            )
        ],
    )
    contents = [
        "Weather in Paris?",
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        name="get_weather", args={"city_name": "Paris"}
                    ),
                    thought_signature=b"sig",
                )
            ],
        ),
        types.Part.from_function_response(name="get_weather", response={"temp_c": 20}),
    ]
    for vertex, dialect in ((False, DIALECT), (True, VERTEX_DIALECT)):
        request = decode(sdk_body(contents, config, vertex=vertex), dialect=dialect)
        assert list(request.messages) == [
            msg(SYSTEM, text("be brief")),
            msg(USER, text("Weather in Paris?")),
            msg(
                MODEL,
                call(
                    "call_0",
                    "get_weather",
                    '{"city_name":"Paris"}',
                    base64.b64encode(b"sig").decode(),
                ),
            ),
            msg(TOOL, result("call_0", "get_weather", '{"temp_c":20}')),
        ]
        assert orjson.loads(request.tools[0].parameters_json) == {
            "type": "object",
            "properties": {"city_name": {"type": ["string", "null"], "maxLength": 30}},
            "required": ["city_name"],
        }
        assert request.tool_choice.mode == gen.ToolChoice.MODE_AUTO
        assert request.config.temperature == 0.25
        assert (request.config.thinking_budget, request.config.include_thinking) == (256, True)
        extras = dict_from_struct(request.extras)
        assert extras["tools"] == [{"googleSearch": {}}]
        assert extras["safetySettings"] == [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
        ]
        assert request.extras_dialect == dialect.name


# ---------------------------------------------------------------------------------------------
# decode_request: tools, tool config, generation config, extras


TOOL_CONFIG_CASES = [
    pytest.param({"mode": "AUTO"}, gen.ToolChoice(mode=gen.ToolChoice.MODE_AUTO), None, id="auto"),
    pytest.param(
        {"mode": "none"},
        gen.ToolChoice(mode=gen.ToolChoice.MODE_NONE),
        None,
        id="none in lower case",
    ),
    pytest.param(
        {"mode": "ANY"},
        gen.ToolChoice(mode=gen.ToolChoice.MODE_REQUIRED),
        None,
        id="any is required",
    ),
    pytest.param(
        {"mode": 2, "allowedFunctionNames": ["f"]},
        gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="f"),
        None,
        id="any with one name (enum by number) is that tool",
    ),
    pytest.param(
        {"mode": "ANY", "allowedFunctionNames": ["f", "g"]},
        gen.ToolChoice(mode=gen.ToolChoice.MODE_REQUIRED),
        {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f", "g"]}},
        id="any with several names is required and keeps the names in extras",
    ),
    pytest.param(
        {"mode": "VALIDATED"},
        gen.ToolChoice(mode=gen.ToolChoice.MODE_AUTO),
        {"functionCallingConfig": {"mode": "VALIDATED"}},
        id="validated is auto and kept in extras",
    ),
]


@pytest.mark.parametrize(("calling", "choice", "extra"), TOOL_CONFIG_CASES)
def test_decode_tool_config(
    calling: dict[str, Any], choice: gen.ToolChoice, extra: dict[str, Any] | None
) -> None:
    request = decode(
        {"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": calling}}
    )
    assert request.tool_choice == choice
    assert dict_from_struct(request.extras).get("toolConfig") == extra


def test_decode_native_schema_parameters_become_json_schema() -> None:
    parameters = {
        "type": "OBJECT",
        "properties": {
            "tags": {
                "type": "ARRAY",
                "items": {"type": "STRING", "enum": ["a", "b"]},
                "min_items": "1",
            },
            "Mixed_Case": {"anyOf": [{"type": "INTEGER"}, {"type": "NUMBER"}], "nullable": True},
        },
        "required": ["tags"],
        "propertyOrdering": ["tags", "Mixed_Case"],
    }
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "tools": [
            {"functionDeclarations": [{"name": "f", "parameters": parameters}, {"name": "g"}]}
        ],
    }
    tools = decode(body).tools
    assert orjson.loads(tools[0].parameters_json) == {
        "type": "object",
        "properties": {
            "tags": {
                "type": "array",
                "items": {"type": "string", "enum": ["a", "b"]},
                "minItems": 1,
            },
            "Mixed_Case": {"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "null"}]},
        },
        "required": ["tags"],
    }
    assert tools[1] == gen.Tool(name="g")


GENERATION_CASES = [
    pytest.param(
        {"maxOutputTokens": "64", "temperature": 0, "topP": 1, "topK": 3.0, "seed": 7},
        gen.GenerationConfig(max_tokens=64, temperature=0, top_p=1, top_k=3, seed=7),
        None,
        id="sampling numbers (int64 as string, integral topK float)",
    ),
    pytest.param(
        {"responseMimeType": "application/json"},
        gen.GenerationConfig(
            response_format=gen.ResponseFormat(type=gen.ResponseFormat.TYPE_JSON_OBJECT)
        ),
        None,
        id="json mime type alone is a JSON object",
    ),
    pytest.param(
        {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
        },
        gen.GenerationConfig(
            response_format=gen.ResponseFormat(
                type=gen.ResponseFormat.TYPE_JSON_SCHEMA,
                schema_json='{"type":"object","properties":{"a":{"type":"string"}}}',
            )
        ),
        None,
        id="native response schema becomes JSON schema",
    ),
    pytest.param(
        {"responseMimeType": "text/plain"},
        gen.GenerationConfig(response_format=gen.ResponseFormat(type=gen.ResponseFormat.TYPE_TEXT)),
        None,
        id="text mime type is text",
    ),
    pytest.param(
        {"responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING", "enum": ["a"]}},
        gen.GenerationConfig(),
        {"responseMimeType": "text/x.enum", "responseSchema": {"type": "STRING", "enum": ["a"]}},
        id="enum output has no canonical form and stays in extras",
    ),
    pytest.param(
        {"thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": False}},
        gen.GenerationConfig(reasoning_effort="high", include_thinking=False),
        None,
        id="thinking level is reasoning effort",
    ),
    pytest.param(
        {
            "thinkingConfig": {"thinkingBudget": -1, "future_knob": 1},
            "topK": 2.5,
            "presencePenalty": 0.1,
        },
        gen.GenerationConfig(thinking_budget=-1),
        {"thinkingConfig": {"futureKnob": 1}, "topK": 2.5, "presencePenalty": 0.1},
        id="dynamic budget kept, unmapped keys go to extras",
    ),
]


@pytest.mark.parametrize(("generation", "config", "extra"), GENERATION_CASES)
def test_decode_generation_config(
    generation: dict[str, Any], config: gen.GenerationConfig, extra: dict[str, Any] | None
) -> None:
    request = decode({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": generation})
    assert request.config == config
    assert dict_from_struct(request.extras).get("generationConfig") == extra


def test_unknown_top_level_fields_are_kept_as_extras_of_the_surface_dialect() -> None:
    body = {
        "contents": [{"parts": [{"text": "x"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}],
        "cachedContent": "cachedContents/abc",
        "labels": {"team_name": "core"},
    }
    gemini = decode(body)
    vertex = decode(body, dialect=VERTEX_DIALECT, model="publishers/google/models/gemini-2.5-pro")
    expected = {
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}],
        "cachedContent": "cachedContents/abc",
        "labels": {"team_name": "core"},  # map keys are user data
    }
    assert dict_from_struct(gemini.extras) == dict_from_struct(vertex.extras) == expected
    assert (gemini.extras_dialect, vertex.extras_dialect) == ("google.gemini", "google.vertex")
    assert decode({"contents": [{"parts": [{"text": "x"}]}]}).extras_dialect == ""


BAD_BODIES = [
    pytest.param([], "", "must be an object", id="body not an object"),
    pytest.param({"contents": {}}, "contents", "must be an array", id="contents not an array"),
    pytest.param({"contents": []}, "contents", "must not be empty", id="no contents"),
    pytest.param(
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        "contents[0].role",
        '"user" or "model"',
        id="unknown role",
    ),
    pytest.param(
        {"contents": [{"role": "user"}]},
        "contents[0].parts",
        "must be an array",
        id="content without parts",
    ),
    pytest.param(
        {"contents": [{"parts": ["hi"]}]},
        "contents[0].parts[0]",
        "must be an object",
        id="part not an object",
    ),
    pytest.param(
        {"contents": [{"parts": [{"video": 1}]}]},
        "contents[0].parts[0]",
        "no supported data",
        id="part with no data",
    ),
    pytest.param(
        {"contents": [{"parts": [{"text": 3}]}]},
        "contents[0].parts[0].text",
        "must be a string",
        id="text not a string",
    ),
    pytest.param(
        {
            "contents": [
                {"parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}
            ]
        },
        "contents[0].parts[0].inlineData.data",
        "base64",
        id="inline data not base64",
    ),
    pytest.param(
        {"contents": [{"parts": [{"inline_data": {"mime_type": "image/png"}}]}]},
        "contents[0].parts[0].inlineData.data",
        "must be a string",
        id="inline data missing (snake case named in camel case)",
    ),
    pytest.param(
        {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
        "contents[0].parts[0].functionCall.args",
        "JSON object",
        id="args not an object",
    ),
    pytest.param(
        {"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
        "contents[0].parts[0].functionCall.name",
        "must be a string",
        id="call without name",
    ),
    pytest.param(
        {"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}]},
        "contents[0].parts[0]",
        "model contents",
        id="function call from the user",
    ),
    pytest.param(
        {"contents": [{"role": "model", "parts": [{"functionResponse": {"name": "f"}}]}]},
        "contents[0].parts[0]",
        "user contents",
        id="function response from the model",
    ),
    pytest.param(
        {"contents": [{"parts": [{"text": "x", "thought": "yes"}]}]},
        "contents[0].parts[0].thought",
        "true or false",
        id="thought not a bool",
    ),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "systemInstruction": {"parts": [{"inlineData": {}}]},
        },
        "systemInstruction.parts[0]",
        "text parts only",
        id="system instruction with media",
    ),
    pytest.param(
        {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": "many"}},
        "generationConfig.maxOutputTokens",
        "integer",
        id="max tokens not an integer",
    ),
    pytest.param(
        {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 2**40}},
        "generationConfig.maxOutputTokens",
        "out of range",
        id="max tokens beyond int32",
    ),
    pytest.param(
        {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"temperature": True}},
        "generationConfig.temperature",
        "number",
        id="temperature a bool",
    ),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "generationConfig": {"maxOutputTokens": 1, "max_output_tokens": 2},
        },
        "generationConfig.maxOutputTokens",
        "twice",
        id="both spellings of one field",
    ),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}},
        },
        "generationConfig.thinkingConfig.thinkingLevel",
        "one of",
        id="unknown thinking level",
    ),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}},
        },
        "toolConfig.functionCallingConfig.mode",
        "one of",
        id="unknown calling mode",
    ),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"description": "no name"}]}],
        },
        "tools[0].functionDeclarations[0].name",
        "must be a string",
        id="declaration without name",
    ),
    pytest.param(
        {
            "contents": [{"parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "WIDGET"}}]}],
        },
        "tools[0].functionDeclarations[0].parameters.type",
        "one of",
        id="unknown schema type",
    ),
]


@pytest.mark.parametrize(("body", "param", "message"), BAD_BODIES)
def test_decode_request_rejects_bad_input_naming_the_field(
    body: Any, param: str, message: str
) -> None:
    with pytest.raises(RhoneError) as caught:
        DIALECT.decode_request(body, {"model": "m"})
    failure = caught.value.failure
    assert failure.code == gen.ERROR_CODE_INVALID_REQUEST
    assert failure.param == param
    assert message in failure.message


WIRE_KEYS = st.sampled_from(
    "contents parts role text thought thoughtSignature functionCall functionResponse name args "
    "response id inline_data fileData mimeType fileUri data executableCode systemInstruction "
    "tools functionDeclarations parameters parametersJsonSchema type properties items anyOf "
    "nullable min_items toolConfig functionCallingConfig mode allowedFunctionNames "
    "generationConfig maxOutputTokens temperature topK top_p seed stopSequences "
    "responseMimeType responseSchema thinkingConfig thinkingBudget thinkingLevel "
    "includeThoughts".split()
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WIRE_KEYS, inner, max_size=4),
    max_leaves=12,
)
FUZZED_BODIES = JSON | st.fixed_dictionaries(
    {"contents": st.just([{"parts": [{"text": "x"}]}])},
    optional={
        "generationConfig": st.dictionaries(WIRE_KEYS, JSON, max_size=4),
        "toolConfig": st.dictionaries(WIRE_KEYS, JSON, max_size=3),
        "tools": st.lists(st.dictionaries(WIRE_KEYS, JSON, max_size=3), max_size=2),
        "systemInstruction": JSON,
    },
)


@given(FUZZED_BODIES)
@settings(max_examples=200, deadline=None)
def test_decode_request_fails_only_with_rhone_errors(body: Any) -> None:
    try:
        DIALECT.decode_request(body, {"model": "m"})
    except RhoneError as exc:
        assert exc.failure.code == gen.ERROR_CODE_INVALID_REQUEST


def test_count_tokens_request_reads_both_body_forms() -> None:
    contents = [{"role": "user", "parts": [{"text": "count me"}]}]
    plain = count_tokens_request({"contents": contents}, {"model": "models/gemini-2.5-flash"})
    wrapped = count_tokens_request(
        {
            "generateContentRequest": {
                "model": "models/gemini-2.5-flash",
                "contents": contents,
                "generationConfig": {"maxOutputTokens": 5},
            }
        },
        {},
    )
    assert list(plain.messages) == list(wrapped.messages) == [msg(USER, text("count me"))]
    assert plain.model == wrapped.model == "gemini-2.5-flash"
    assert wrapped.config.max_tokens == 5
    with pytest.raises(RhoneError) as caught:
        count_tokens_request(
            {"generate_content_request": {"contents": [{"role": "x", "parts": []}]}}, {}
        )
    assert caught.value.failure.param == "generateContentRequest.contents[0].role"
    assert encode_count_tokens(12) == {"totalTokens": 12}


# ---------------------------------------------------------------------------------------------
# encode_request (upstream)


def test_encode_request_builds_camel_case_body_with_roles_and_system_instruction() -> None:
    request = request_of(
        msg(SYSTEM, text("Be brief.")),
        msg(content.ROLE_DEVELOPER, text("Use metric.")),
        msg(USER, text("Weather in Paris and Rome?")),
        msg(
            MODEL,
            thinking("plan", "c2ln", "gemini"),
            call("c1", "get_weather", '{"city": "Paris"}', "Y2Fs", "gemini"),
            call("c2", "get_weather", '{"city":"Rome"}'),
        ),
        msg(TOOL, result("c1", "", '{"temp": 20}')),
        msg(TOOL, result("c2", "get_weather", "sunny")),
        msg(TOOL, result("c3", "lookup", "no such city", is_error=True)),
        msg(SYSTEM, text("Answer in French.")),
        tools=[
            gen.Tool(
                name="get_weather", description="Weather.", parameters_json='{"type":"object"}'
            ),
            gen.Tool(name="noop"),
        ],
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_TOOL, name="get_weather"),
        config=gen.GenerationConfig(
            max_tokens=50,
            temperature=0.2,
            top_p=0.9,
            top_k=5,
            stop=["END"],
            seed=3,
            include_thinking=True,
            thinking_budget=128,
        ),
    )
    assert DIALECT.encode_request(request, True) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "plan", "thought": True, "thoughtSignature": "c2ln"},
                    {
                        "functionCall": {
                            "name": "get_weather",
                            "args": {"city": "Paris"},
                            "id": "c1",
                        },
                        "thoughtSignature": "Y2Fs",
                    },
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}, "id": "c2"}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"temp": 20},
                            "id": "c1",
                        }
                    },
                    {
                        "functionResponse": {
                            "name": "get_weather",
                            "response": {"result": "sunny"},
                            "id": "c2",
                        }
                    },
                    {
                        "functionResponse": {
                            "name": "lookup",
                            "response": {"error": "no such city"},
                            "id": "c3",
                        }
                    },
                ],
            },
            {"role": "user", "parts": [{"text": "Answer in French."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]},
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather.",
                        "parametersJsonSchema": {"type": "object"},
                    },
                    {"name": "noop"},
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
        },
        "generationConfig": {
            "maxOutputTokens": 50,
            "temperature": 0.2,
            "topP": 0.9,
            "topK": 5,
            "stopSequences": ["END"],
            "seed": 3,
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 128},
        },
    }
    vertex = VERTEX_DIALECT.encode_request(request, False)
    assert vertex["systemInstruction"]["role"] == "user"
    assert all("role" in item for item in vertex["contents"])


def test_encode_request_drops_thinking_and_signatures_other_providers_made() -> None:
    request = request_of(
        msg(USER, text("Hi")),
        msg(
            MODEL,
            thinking("claude thoughts", "sigA", "anthropic"),
            thinking(signature="b2Fp", origin="openai.responses"),
            call("t1", "f", "{}", "sigA", "anthropic"),
        ),
        msg(MODEL, thinking("redacted", origin="anthropic")),
        msg(TOOL, result("t1", "f", "{}")),
    )
    assert DIALECT.encode_request(request, False)["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}, "id": "t1"}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "f", "response": {}, "id": "t1"}}],
        },
    ]


def test_encode_request_puts_a_text_signature_back_on_its_text_part() -> None:
    request = request_of(
        msg(MODEL, thinking(signature="c2ln"), text("Hello"), thinking(signature="ZW5k"))
    )
    assert DIALECT.encode_request(request, False)["contents"][0]["parts"] == [
        {"text": "Hello", "thoughtSignature": "c2ln"},
        {"text": "", "thoughtSignature": "ZW5k"},
    ]


def test_encode_request_media() -> None:
    request = request_of(
        msg(
            USER,
            content.Part(image=content.ImagePart(url="data:image/png;base64,AAEC")),
            content.Part(image=content.ImagePart(data=b"\xff\xd8\xff\xe0")),
            content.Part(image=content.ImagePart(url="https://x.test/a.webp")),
            content.Part(file=content.FilePart(data=b"%PDF-1.7")),
            content.Part(file=content.FilePart(file_id="files/abc", media_type="video/mp4")),
        )
    )
    assert DIALECT.encode_request(request, False)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "AAEC"}},
        {
            "inlineData": {
                "mimeType": "image/jpeg",
                "data": base64.b64encode(b"\xff\xd8\xff\xe0").decode(),
            }
        },
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/a.webp"}},
        {
            "inlineData": {
                "mimeType": "application/pdf",
                "data": base64.b64encode(b"%PDF-1.7").decode(),
            }
        },
        {"fileData": {"fileUri": "files/abc", "mimeType": "video/mp4"}},
    ]


@pytest.mark.parametrize(
    ("model", "effort", "thinking_config"),
    [
        pytest.param(
            "gemini-3-pro-preview", "high", {"thinkingLevel": "HIGH"}, id="gemini 3 takes a level"
        ),
        pytest.param(
            "gemini-3-flash", "minimal", {"thinkingLevel": "MINIMAL"}, id="gemini 3 minimal"
        ),
        pytest.param(
            "gemini-2.5-flash", "low", {"thinkingBudget": 1024}, id="gemini 2.5 takes a budget"
        ),
        pytest.param(
            "models/gemini-2.0-flash",
            "none",
            {"thinkingBudget": 0},
            id="none turns thinking off on 2.x",
        ),
        pytest.param("gemini-3-pro-preview", "unheard-of", None, id="unknown effort is not sent"),
    ],
)
def test_encode_request_reasoning_effort(
    model: str, effort: str, thinking_config: dict[str, Any] | None
) -> None:
    request = request_of(
        msg(USER, text("x")), model=model, config=gen.GenerationConfig(reasoning_effort=effort)
    )
    assert (
        DIALECT.encode_request(request, False).get("generationConfig", {}).get("thinkingConfig")
        == thinking_config
    )


def test_encode_request_merges_extras_only_for_the_same_dialect() -> None:
    extras = {
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
        "tools": [{"googleSearch": {}}],
        "toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}},
        "generationConfig": {"candidateCount": 2, "thinkingConfig": {"futureKnob": "on"}},
    }
    request = request_of(
        msg(USER, text("x")),
        tools=[gen.Tool(name="f")],
        tool_choice=gen.ToolChoice(mode=gen.ToolChoice.MODE_AUTO),
        config=gen.GenerationConfig(thinking_budget=10),
        extras=struct_from_dict(extras),
        extras_dialect="google.gemini",
    )
    body = DIALECT.encode_request(request, False)
    assert body["safetySettings"] == extras["safetySettings"]
    assert body["tools"] == [{"functionDeclarations": [{"name": "f"}]}, {"googleSearch": {}}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "VALIDATED"}}
    assert body["generationConfig"] == {
        "candidateCount": 2,
        "thinkingConfig": {"thinkingBudget": 10, "futureKnob": "on"},
    }
    assert "safetySettings" not in VERTEX_DIALECT.encode_request(request, False)


def test_encode_request_tool_result_needs_a_tool_name() -> None:
    request = request_of(msg(USER, text("x")), msg(TOOL, result("orphan", "", "{}")))
    with pytest.raises(RhoneError) as caught:
        DIALECT.encode_request(request, False)
    assert "orphan" in caught.value.failure.message


def test_encode_request_non_object_arguments_still_send_an_object() -> None:
    request = request_of(
        msg(MODEL, call("a", "f", '{"cut'), call("b", "f", "[1]"), call("c", "f", ""))
    )
    calls = [
        p["functionCall"]["args"]
        for p in DIALECT.encode_request(request, False)["contents"][0]["parts"]
    ]
    assert calls == [{"arguments": '{"cut'}, {"arguments": [1]}, {}]


# ---------------------------------------------------------------------------------------------
# the surface stream


STREAM_EVENTS = [
    canonical.started("resp-1", "gemini-2.5-flash", "anthropic"),
    canonical.part_started(0, gen.PART_KIND_THINKING),
    canonical.thinking_delta(0, "Let me "),
    canonical.thinking_delta(0, "check."),
    canonical.signature_delta(0, "c2ln"),
    canonical.part_finished(0),
    canonical.part_started(1, gen.PART_KIND_TEXT),
    canonical.text_delta(1, "Checking "),
    canonical.text_delta(1, "now."),
    canonical.part_finished(1),
    canonical.part_started(2, gen.PART_KIND_REDACTED_THINKING),
    canonical.redacted_delta(2, "opaque"),
    canonical.part_finished(2),
    canonical.part_started(3, gen.PART_KIND_TOOL_CALL, "toolu_1", "get_weather"),
    canonical.arguments_delta(3, '{"city_name":'),
    canonical.arguments_delta(3, '"Paris"}'),
    canonical.signature_delta(3, "Y2Fs"),
    canonical.part_finished(3),
    canonical.usage(100, 40, cached_input_tokens=20, reasoning_tokens=15),
    canonical.finished(gen.FINISH_REASON_TOOL_CALLS),
]


def _chunk(parts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}}
    if "finishReason" in extra:
        candidate["finishReason"] = extra.pop("finishReason")
    candidate["index"] = 0
    body: dict[str, Any] = {"candidates": [candidate]}
    if "usageMetadata" in extra:
        body["usageMetadata"] = extra.pop("usageMetadata")
    return {**body, "modelVersion": "gemini-2.5-flash", "responseId": "resp-1", **extra}


def encode_stream(
    events: list[gen.GenerationEvent], dialect=DIALECT, meta: dict[str, Any] | None = None
) -> list[bytes]:
    encoder = dialect.stream_encoder(
        DecodedCall(gen.GenerateRequest(model="gemini-2.5-flash")), meta or {}
    )
    items = [item for event in events for item in encoder.encode(event)]
    items.extend(encoder.close())
    assert all(item.event is None for item in items)
    return [item.data for item in items]


def test_stream_encoder_golden() -> None:
    chunks = [
        orjson.loads(data) for data in encode_stream(STREAM_EVENTS, meta={"session_id": "s-1"})
    ]
    assert chunks == [
        _chunk([{"text": "Let me ", "thought": True}], rhone={"session_id": "s-1"}),
        _chunk([{"text": "check.", "thought": True}]),
        _chunk([{"text": "", "thought": True, "thoughtSignature": "c2ln"}]),
        _chunk([{"text": "Checking "}]),
        _chunk([{"text": "now."}]),
        _chunk(
            [
                {
                    "functionCall": {
                        "name": "get_weather",
                        "args": {"city_name": "Paris"},
                        "id": "toolu_1",
                    },
                    "thoughtSignature": "Y2Fs",
                }
            ]
        ),
        _chunk(
            [{"text": ""}],
            finishReason="STOP",
            usageMetadata={
                "promptTokenCount": 100,
                "candidatesTokenCount": 25,
                "totalTokenCount": 140,
                "thoughtsTokenCount": 15,
                "cachedContentTokenCount": 20,
            },
        ),
    ]


@pytest.mark.parametrize("dialect", [DIALECT, VERTEX_DIALECT], ids=["gemini", "vertex"])
def test_stream_items_parse_with_google_genai(dialect) -> None:
    vertex = dialect is VERTEX_DIALECT
    responses = [
        sdk_response(orjson.loads(data), vertex=vertex)
        for data in encode_stream(STREAM_EVENTS, dialect, {"session_id": "s-1"})
    ]
    assert "".join(r.text or "" for r in responses) == "Checking now."
    thoughts = [p.text or "" for r in responses for p in r.parts or [] if p.thought]
    assert "".join(thoughts) == "Let me check."
    calls = [c for r in responses for c in r.function_calls or []]
    assert [(c.id, c.name, c.args) for c in calls] == [
        ("toolu_1", "get_weather", {"city_name": "Paris"})
    ]
    last = responses[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    usage = last.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count) == (
        100,
        25,
        15,
    )
    assert (usage.cached_content_token_count, usage.total_token_count) == (20, 140)
    assert all(
        r.response_id == "resp-1" and r.model_version == "gemini-2.5-flash" for r in responses
    )
    assert all((r.create_time is not None) == vertex for r in responses)
    signatures = [
        p.thought_signature for r in responses for p in r.parts or [] if p.thought_signature
    ]
    assert signatures == [b"sig", b"cal"]


def test_stream_encoder_carries_a_text_signature_on_the_next_text_or_the_last_chunk() -> None:
    events = [
        canonical.started("r", "m", "gemini"),
        canonical.part_started(0, gen.PART_KIND_THINKING),
        canonical.signature_delta(0, "c2ln"),
        canonical.part_finished(0),
        canonical.part_started(1, gen.PART_KIND_TEXT),
        canonical.text_delta(1, "Hi"),
        canonical.part_finished(1),
        canonical.part_started(2, gen.PART_KIND_THINKING),
        canonical.signature_delta(2, "ZW5k"),
        canonical.part_finished(2),
        canonical.part_started(3, gen.PART_KIND_THINKING),
        canonical.signature_delta(3, "not base64 !"),
        canonical.part_finished(3),
        canonical.finished(gen.FINISH_REASON_STOP),
    ]
    chunks = [orjson.loads(data) for data in encode_stream(events)]
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]
    assert parts == [
        [{"text": "Hi", "thoughtSignature": "c2ln"}],
        [{"text": "", "thoughtSignature": "ZW5k"}],
    ]
    assert "usageMetadata" not in chunks[-1]


def test_stream_encoder_failure_is_an_error_item_google_genai_raises_on() -> None:
    failure = make_failure(gen.ERROR_CODE_RATE_LIMITED, "Slow down.")
    events = [
        canonical.started("r", "m", "gemini"),
        canonical.part_started(0, gen.PART_KIND_TEXT),
        canonical.text_delta(0, "Hi"),
        canonical.failed(failure),
    ]
    data = encode_stream(events, meta={"session_id": "s"})
    assert len(data) == 2 and b'"rhone"' in data[0]
    # google-genai re-serialises each chunk with json.dumps and checks the prefix.
    dumped = json.dumps(orjson.loads(data[1]))
    assert dumped.startswith('{"error":')
    with pytest.raises(genai_errors.ClientError) as caught:
        genai_errors.APIError.raise_error(
            json.loads(dumped)["error"]["code"], json.loads(dumped), None
        )
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        429,
        "RESOURCE_EXHAUSTED",
        "Slow down.",
    )


# ---------------------------------------------------------------------------------------------
# encode_response (surface)


@pytest.mark.parametrize("dialect", [DIALECT, VERTEX_DIALECT], ids=["gemini", "vertex"])
def test_encode_response_validates_with_google_genai(dialect) -> None:
    response = gen.GenerateResponse(
        id="resp-9",
        model="gemini-2.5-pro",
        provider="openai",
        message=msg(
            MODEL,
            thinking("why", "c2ln"),
            text("It is "),
            text("sunny."),
            call("c1", "log", '{"level":"info"}'),
        ),
        usage=gen.Usage(input_tokens=10, output_tokens=7, reasoning_tokens=2),
        finish_reason=gen.FINISH_REASON_LENGTH,
    )
    body = dialect.encode_response(response, {"session_id": "s-2"})
    assert body["rhone"] == {"session_id": "s-2"}
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "why", "thought": True, "thoughtSignature": "c2ln"},
        {"text": "It is "},
        {"text": "sunny."},
        {"functionCall": {"name": "log", "args": {"level": "info"}, "id": "c1"}},
    ]
    parsed = sdk_response(body, vertex=dialect is VERTEX_DIALECT)
    assert parsed.text == "It is sunny."
    assert [(c.id, c.name, c.args) for c in parsed.function_calls or []] == [
        ("c1", "log", {"level": "info"})
    ]
    assert parsed.candidates and parsed.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    usage = parsed.usage_metadata
    assert usage is not None
    assert (
        usage.prompt_token_count,
        usage.candidates_token_count,
        usage.thoughts_token_count,
        usage.total_token_count,
    ) == (10, 5, 2, 17)
    assert (parsed.response_id, parsed.model_version) == ("resp-9", "gemini-2.5-pro")
    assert (parsed.create_time is not None) == (dialect is VERTEX_DIALECT)
    assert "rhone" not in dialect.encode_response(response, {})


@pytest.mark.parametrize(
    ("reason", "wire_reason"),
    [
        (gen.FINISH_REASON_STOP, "STOP"),
        (gen.FINISH_REASON_TOOL_CALLS, "STOP"),
        (gen.FINISH_REASON_STOP_SEQUENCE, "STOP"),
        (gen.FINISH_REASON_LENGTH, "MAX_TOKENS"),
        (gen.FINISH_REASON_CONTENT_FILTER, "SAFETY"),
        (gen.FINISH_REASON_REFUSAL, "SAFETY"),
    ],
)
def test_encode_response_finish_reasons(reason: int, wire_reason: str) -> None:
    body = DIALECT.encode_response(gen.GenerateResponse(finish_reason=reason), {})  # type: ignore[arg-type]
    assert body["candidates"][0]["finishReason"] == wire_reason


# ---------------------------------------------------------------------------------------------
# the upstream stream and whole responses


def decode_stream(chunks: list[dict[str, Any]], dialect=DIALECT) -> list[gen.GenerationEvent]:
    decoder = dialect.stream_decoder()
    events = [event for chunk in chunks for event in decoder.feed(None, chunk)]
    return events + decoder.close()


def test_stream_decoder_text_stream_from_protocol_sample() -> None:
    chunks = [
        {
            "candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        },
        {
            "candidates": [
                {
                    "content": {"parts": [{"text": "lo!"}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 8,
                "candidatesTokenCount": 3,
                "totalTokenCount": 11,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
        },
    ]
    assert decode_stream(chunks, VERTEX_DIALECT) == [
        canonical.started("r1", "gemini-2.5-flash", "vertex"),
        canonical.part_started(0, gen.PART_KIND_TEXT),
        canonical.text_delta(0, "Hel"),
        canonical.text_delta(0, "lo!"),
        canonical.part_finished(0),
        canonical.usage(8, 3),
        canonical.finished(gen.FINISH_REASON_STOP),
    ]


def test_stream_decoder_thoughts_signatures_and_calls() -> None:
    def chunk(*parts: dict[str, Any], **candidate: Any) -> dict[str, Any]:
        return {
            "candidates": [{"content": {"role": "model", "parts": list(parts)}, **candidate}],
            "responseId": "rX",
            "modelVersion": "gemini-3-pro",
        }

    chunks = [
        chunk({"text": "Think", "thought": True}),
        chunk({"text": "ing.", "thought": True, "thoughtSignature": "c2ln"}),
        chunk({"text": "More.", "thought": True}),
        chunk({"text": "Answer", "thoughtSignature": "dHh0"}),
        chunk({"text": " done."}),
        chunk(
            {"functionCall": {"name": "f", "args": {"snake_key": 1}}, "thoughtSignature": "Y2Fs"},
            {"functionCall": {"id": "given", "name": "g"}},
        ),
        {
            **chunk({"text": ""}, finishReason="STOP"),
            "usageMetadata": {
                "promptTokenCount": 5,
                "toolUsePromptTokenCount": 2,
                "candidatesTokenCount": 4,
                "thoughtsTokenCount": 6,
                "cachedContentTokenCount": 1,
            },
        },
        chunk({"text": "after the end is ignored"}),
    ]
    events = decode_stream(chunks)
    assert events == [
        canonical.started("rX", "gemini-3-pro", "gemini"),
        canonical.part_started(0, gen.PART_KIND_THINKING),
        canonical.thinking_delta(0, "Think"),
        canonical.thinking_delta(0, "ing."),
        canonical.signature_delta(0, "c2ln"),
        canonical.part_finished(0),
        canonical.part_started(1, gen.PART_KIND_THINKING),
        canonical.thinking_delta(1, "More."),
        canonical.part_finished(1),
        canonical.part_started(2, gen.PART_KIND_THINKING),
        canonical.signature_delta(2, "dHh0"),
        canonical.part_finished(2),
        canonical.part_started(3, gen.PART_KIND_TEXT),
        canonical.text_delta(3, "Answer"),
        canonical.text_delta(3, " done."),
        canonical.part_finished(3),
        canonical.part_started(4, gen.PART_KIND_TOOL_CALL, "call_rX_0", "f"),
        canonical.arguments_delta(4, '{"snake_key":1}'),
        canonical.signature_delta(4, "Y2Fs"),
        canonical.part_finished(4),
        canonical.part_started(5, gen.PART_KIND_TOOL_CALL, "given", "g"),
        canonical.arguments_delta(5, "{}"),
        canonical.part_finished(5),
        canonical.usage(7, 10, cached_input_tokens=1, reasoning_tokens=6),
        canonical.finished(gen.FINISH_REASON_TOOL_CALLS),
    ]
    folded = canonical.fold_events(events)
    assert folded.message.parts[0].thinking.origin == "gemini"
    assert folded.message.parts[4].tool_call.signature_origin == "gemini"


@pytest.mark.parametrize(
    ("wire_reason", "reason"),
    [
        ("MAX_TOKENS", gen.FINISH_REASON_LENGTH),
        ("SAFETY", gen.FINISH_REASON_CONTENT_FILTER),
        ("RECITATION", gen.FINISH_REASON_CONTENT_FILTER),
        ("BLOCKLIST", gen.FINISH_REASON_CONTENT_FILTER),
        ("PROHIBITED_CONTENT", gen.FINISH_REASON_CONTENT_FILTER),
        ("SPII", gen.FINISH_REASON_CONTENT_FILTER),
        ("OTHER", gen.FINISH_REASON_STOP),
    ],
)
def test_stream_decoder_finish_reasons(wire_reason: str, reason: int) -> None:
    events = decode_stream(
        [
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": "x"}]},
                        "finishReason": wire_reason,
                    }
                ]
            }
        ]
    )
    assert events[-1] == canonical.finished(reason)


def test_stream_decoder_blocked_prompt_error_chunk_and_early_end() -> None:
    blocked = decode_stream(
        [
            {
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": 4},
                "responseId": "b",
            }
        ]
    )
    assert blocked == [
        canonical.started("b", "", "gemini"),
        canonical.usage(4, 0),
        canonical.finished(gen.FINISH_REASON_CONTENT_FILTER),
    ]

    error = decode_stream(
        [
            {"candidates": [{"content": {"parts": [{"text": "x"}]}}]},
            {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded.",
                    "status": "UNAVAILABLE",
                }
            },
        ]
    )
    failure = error[-1].failure
    assert (failure.code, failure.http_status, failure.retryable, failure.message) == (
        gen.ERROR_CODE_UNAVAILABLE,
        503,
        True,
        "The model is overloaded.",
    )
    assert sum(e.HasField("failure") for e in error) == 1

    early = decode_stream([{"candidates": [{"content": {"parts": [{"text": "x"}]}}]}])
    assert early[-1].failure.code == gen.ERROR_CODE_INTERNAL
    assert (
        early[-1].failure.retryable and early[-1].failure.message == "upstream stream ended early"
    )
    assert decode_stream([])[-1].HasField("failure")


def test_decode_response_folds_a_whole_body() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Hi "},
                        {"text": "there"},
                        {"functionCall": {"name": "f", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "w1",
        "createTime": "2025-01-01T00:00:00Z",
    }
    response = VERTEX_DIALECT.decode_response(body)
    assert response == gen.GenerateResponse(
        id="w1",
        model="gemini-2.5-flash",
        provider="vertex",
        message=msg(MODEL, text("Hi there"), call("call_w1_0", "f", "{}")),
        usage=gen.Usage(input_tokens=3, output_tokens=2),
        finish_reason=gen.FINISH_REASON_TOOL_CALLS,
    )
    no_reason = DIALECT.decode_response({"candidates": [{"content": {"parts": [{"text": "x"}]}}]})
    assert no_reason.finish_reason == gen.FINISH_REASON_STOP
    with pytest.raises(RhoneError):
        DIALECT.decode_response(
            {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
        )


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("code", "status", "name"),
    [
        (gen.ERROR_CODE_INVALID_REQUEST, 400, "INVALID_ARGUMENT"),
        (gen.ERROR_CODE_AUTHENTICATION, 401, "UNAUTHENTICATED"),
        (gen.ERROR_CODE_PERMISSION, 403, "PERMISSION_DENIED"),
        (gen.ERROR_CODE_NOT_FOUND, 404, "NOT_FOUND"),
        (gen.ERROR_CODE_CONFLICT, 409, "ABORTED"),
        (gen.ERROR_CODE_REQUEST_TOO_LARGE, 413, "INVALID_ARGUMENT"),
        (gen.ERROR_CODE_RATE_LIMITED, 429, "RESOURCE_EXHAUSTED"),
        (gen.ERROR_CODE_INTERNAL, 500, "INTERNAL"),
        (gen.ERROR_CODE_OVERLOADED, 503, "UNAVAILABLE"),
        (gen.ERROR_CODE_UNAVAILABLE, 503, "UNAVAILABLE"),
        (gen.ERROR_CODE_TIMEOUT, 504, "DEADLINE_EXCEEDED"),
        (gen.ERROR_CODE_CANCELLED, 499, "CANCELLED"),
    ],
)
def test_encode_error_per_code(code: int, status: int, name: str) -> None:
    assert DIALECT.encode_error(make_failure(code, "went wrong")) == (
        status,
        {"error": {"code": status, "message": "went wrong", "status": name}},
    )
    assert VERTEX_DIALECT.encode_error(make_failure(code, "went wrong")) == DIALECT.encode_error(
        make_failure(code, "went wrong")
    )


def test_encode_error_details_reach_google_genai() -> None:
    failure = make_failure(
        gen.ERROR_CODE_INVALID_REQUEST, "bad field", param="contents[0].role", detail="bad_role"
    )
    failure.retry_after_ms = 1500
    status, body = DIALECT.encode_error(failure)
    assert body["error"]["details"] == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "bad_role",
            "domain": "rhone",
        },
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "contents[0].role", "description": "bad field"}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"},
    ]
    error = genai_errors.ClientError(status, body)
    assert (error.code, error.status, error.message) == (400, "INVALID_ARGUMENT", "bad field")
    assert (
        DIALECT.encode_error(make_failure(gen.ERROR_CODE_UNSPECIFIED, "?", http_status=404))[1][
            "error"
        ]["status"]
        == "NOT_FOUND"
    )


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable", "extra"),
    [
        pytest.param(
            429,
            {
                "error": {
                    "code": 429,
                    "message": "Quota",
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [
                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
                    ],
                }
            },
            gen.ERROR_CODE_RATE_LIMITED,
            True,
            {"retry_after_ms": 30000},
            id="quota with retry delay",
        ),
        pytest.param(
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }
                    ],
                }
            },
            gen.ERROR_CODE_AUTHENTICATION,
            False,
            {"detail": "API_KEY_INVALID"},
            id="bad key is 400 on the wire",
        ),
        pytest.param(
            400,
            {"error": {"code": 400, "message": "Region", "status": "FAILED_PRECONDITION"}},
            gen.ERROR_CODE_INVALID_REQUEST,
            False,
            {},
            id="failed precondition",
        ),
        pytest.param(
            403,
            {"error": {"code": 403, "message": "Denied", "status": "PERMISSION_DENIED"}},
            gen.ERROR_CODE_PERMISSION,
            False,
            {},
            id="permission",
        ),
        pytest.param(
            404,
            [{"error": {"code": 404, "message": "No model", "status": "NOT_FOUND"}}],
            gen.ERROR_CODE_NOT_FOUND,
            False,
            {},
            id="list-wrapped as in Vertex's array stream",
        ),
        pytest.param(
            500,
            {"error": {"code": 500, "message": "Oops", "status": "INTERNAL"}},
            gen.ERROR_CODE_INTERNAL,
            True,
            {},
            id="internal",
        ),
        pytest.param(
            503,
            {"error": {"code": 503, "message": "Overloaded", "status": "UNAVAILABLE"}},
            gen.ERROR_CODE_UNAVAILABLE,
            True,
            {},
            id="unavailable",
        ),
        pytest.param(
            504,
            {"error": {"code": 504, "message": "Slow", "status": "DEADLINE_EXCEEDED"}},
            gen.ERROR_CODE_TIMEOUT,
            True,
            {},
            id="deadline",
        ),
        pytest.param(
            413,
            {"error": {"code": 413, "message": "Big", "status": "INVALID_ARGUMENT"}},
            gen.ERROR_CODE_REQUEST_TOO_LARGE,
            False,
            {},
            id="too large",
        ),
    ],
)
def test_decode_error(
    status: int, body: Any, code: int, retryable: bool, extra: dict[str, Any]
) -> None:
    failure = DIALECT.decode_error(status, orjson.dumps(body))
    assert (failure.code, failure.retryable, failure.http_status) == (code, retryable, status)
    inner = body[0] if isinstance(body, list) else body
    assert failure.message == inner["error"]["message"]
    for key, value in extra.items():
        assert getattr(failure, key) == value


def test_decode_error_of_a_non_json_body() -> None:
    failure = DIALECT.decode_error(502, b"<html>Bad Gateway</html>")
    assert (failure.code, failure.http_status, failure.message, failure.retryable) == (
        gen.ERROR_CODE_INTERNAL,
        502,
        "<html>Bad Gateway</html>",
        True,
    )


EXPRESSIBLE_CODES = [
    gen.ERROR_CODE_INVALID_REQUEST,
    gen.ERROR_CODE_AUTHENTICATION,
    gen.ERROR_CODE_PERMISSION,
    gen.ERROR_CODE_NOT_FOUND,
    gen.ERROR_CODE_CONFLICT,
    gen.ERROR_CODE_REQUEST_TOO_LARGE,
    gen.ERROR_CODE_RATE_LIMITED,
    gen.ERROR_CODE_INTERNAL,
    gen.ERROR_CODE_UNAVAILABLE,
    gen.ERROR_CODE_TIMEOUT,
    gen.ERROR_CODE_CANCELLED,
]
SAFE_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)


@given(
    code=st.sampled_from(EXPRESSIBLE_CODES),
    message=SAFE_TEXT.filter(bool),  # an empty message decodes as the status name
    detail=st.from_regex(r"[a-z_]{0,10}", fullmatch=True),
    param=st.from_regex(r"[a-zA-Z.\[\]0-9]{0,12}", fullmatch=True),
    retry_after_ms=st.integers(0, 10**6),
)
@settings(max_examples=150, deadline=None)
def test_error_round_trip(
    code: int, message: str, detail: str, param: str, retry_after_ms: int
) -> None:
    failure = make_failure(code, message, detail=detail, param=param)
    failure.retry_after_ms = retry_after_ms
    status, body = DIALECT.encode_error(failure)
    decoded = DIALECT.decode_error(status, orjson.dumps(body))
    failure.http_status = status
    assert decoded == failure


# ---------------------------------------------------------------------------------------------
# round trips


IDS = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True)
TEXTS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
SIGNATURES = st.binary(min_size=1, max_size=12).map(lambda b: base64.b64encode(b).decode())
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | SAFE_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SAFE_TEXT, inner, max_size=3),
    max_leaves=8,
)
JSON_OBJECTS = st.dictionaries(SAFE_TEXT, JSON_VALUES, max_size=4).map(
    lambda d: orjson.dumps(d).decode()
)

TEXT_PARTS = TEXTS.map(text)
THINKING_PARTS = st.one_of(
    st.builds(thinking, TEXTS, st.just("") | SIGNATURES),
    SIGNATURES.map(lambda s: thinking(signature=s)),
)
CALL_PARTS = st.builds(call, IDS, NAMES, JSON_OBJECTS, st.just("") | SIGNATURES)
MEDIA_PARTS = st.one_of(
    st.builds(
        lambda d, t: content.Part(image=content.ImagePart(data=d, media_type=t)),
        st.binary(min_size=1, max_size=8),
        st.sampled_from(["image/png", "image/webp"]),
    ),
    st.builds(
        lambda u: content.Part(image=content.ImagePart(url=u, media_type="image/jpeg")),
        st.from_regex(r"https://x\.test/[a-z]{1,8}", fullmatch=True),
    ),
    st.builds(
        lambda d: content.Part(file=content.FilePart(data=d, media_type="application/pdf")),
        st.binary(min_size=1, max_size=8),
    ),
    st.builds(
        lambda u: content.Part(file=content.FilePart(url=u, media_type="video/mp4")),
        st.from_regex(r"files/[a-z0-9]{1,8}", fullmatch=True),
    ),
)
USER_MESSAGES = st.lists(TEXT_PARTS | MEDIA_PARTS, min_size=1, max_size=3).map(
    lambda ps: msg(USER, *ps)
)
MODEL_MESSAGES = st.lists(TEXT_PARTS | THINKING_PARTS | CALL_PARTS, min_size=1, max_size=4).map(
    lambda ps: msg(MODEL, *ps)
)
TOOL_MESSAGES = st.lists(st.builds(result, IDS, NAMES, JSON_OBJECTS), min_size=1, max_size=3).map(
    lambda ps: msg(TOOL, *ps)
)
SYSTEM_MESSAGES = st.lists(TEXT_PARTS, min_size=1, max_size=2).map(lambda ps: msg(SYSTEM, *ps))


def _no_adjacent_tool_messages(messages: list[content.Message]) -> list[content.Message]:
    """Consecutive TOOL messages share one Gemini content, so they come back as one message."""
    return [m for i, m in enumerate(messages) if not (i and m.role == messages[i - 1].role == TOOL)]


@st.composite
def requests(draw: st.DrawFn, dialect_name: str) -> gen.GenerateRequest:
    system = draw(st.lists(SYSTEM_MESSAGES, max_size=1))
    turns = draw(
        st.lists(USER_MESSAGES | MODEL_MESSAGES | TOOL_MESSAGES, min_size=1, max_size=5).map(
            _no_adjacent_tool_messages
        )
    )
    request = gen.GenerateRequest(
        model=draw(st.sampled_from(["gemini-3-pro-preview", "gemini-3-flash"])),
        messages=system + turns,
    )
    for name, description, parameters in draw(
        st.lists(st.tuples(NAMES, st.just("") | TEXTS, st.just("") | JSON_OBJECTS), max_size=2)
    ):
        request.tools.add(name=name, description=description, parameters_json=parameters)
    mode = draw(st.sampled_from(list(gen.ToolChoice.Mode.values())))
    request.tool_choice.mode = mode
    if mode == gen.ToolChoice.MODE_TOOL:
        request.tool_choice.name = draw(NAMES)
    config = request.config
    if draw(st.booleans()):
        config.max_tokens = draw(st.integers(1, 2**31 - 1))
    if draw(st.booleans()):
        config.temperature = draw(st.floats(0, 2))
    if draw(st.booleans()):
        config.top_p = draw(st.floats(0, 1))
    if draw(st.booleans()):
        config.top_k = draw(st.integers(1, 1000))
    config.stop.extend(draw(st.lists(TEXTS, max_size=2)))
    if draw(st.booleans()):
        config.seed = draw(st.integers(-(2**31), 2**31 - 1))
    format_type = draw(st.sampled_from(list(gen.ResponseFormat.Type.values())))
    config.response_format.type = format_type
    if format_type == gen.ResponseFormat.TYPE_JSON_SCHEMA:
        config.response_format.schema_json = draw(JSON_OBJECTS)
    if draw(st.booleans()):
        config.thinking_budget = draw(st.integers(-1, 32768))
    else:
        config.reasoning_effort = draw(st.sampled_from(["", "minimal", "low", "medium", "high"]))
    if draw(st.booleans()):
        config.include_thinking = draw(st.booleans())
    if draw(st.booleans()):
        extras = {
            "safetySettings": [
                {
                    "category": "HARM_CATEGORY_HARASSMENT",
                    "threshold": draw(st.sampled_from(["OFF", "BLOCK_NONE"])),
                }
            ],
            "cachedContent": draw(TEXTS),
        }
        request.extras.CopyFrom(struct_from_dict(extras))
        request.extras_dialect = dialect_name
    for holder, field in (
        (config, "response_format"),
        (request, "config"),
        (request, "tool_choice"),
    ):
        if getattr(holder, field).ByteSize() == 0:  # an empty message is an absent one
            holder.ClearField(field)
    return request


@pytest.mark.parametrize("dialect", [DIALECT, VERTEX_DIALECT], ids=["gemini", "vertex"])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_request_round_trips_through_the_wire(dialect, data: st.DataObject) -> None:
    request = data.draw(requests(dialect.name))
    body = orjson.loads(orjson.dumps(dialect.encode_request(request, False)))
    assert all(item["role"] in ("user", "model") for item in body["contents"])
    assert dialect.decode_request(body, {"model": request.model}).request == request


def _readable_in_order(parts: list[content.Part]) -> bool:
    """A stream cannot tell two adjacent text parts (or an unsigned thinking part followed by
    more thinking text) from one: Gemini streams both as continuing chunks."""
    for a, b in itertools.pairwise(parts):
        kinds = (a.WhichOneof("kind"), b.WhichOneof("kind"))
        if kinds == ("text", "text"):
            return False
        if kinds == ("thinking", "thinking") and not a.thinking.signature and b.thinking.text:
            return False
    return True


# The provider each dialect's decoder names (the dialects are google.gemini and google.vertex).
PROVIDER_OF = {DIALECT.name: "gemini", VERTEX_DIALECT.name: "vertex"}


@st.composite
def responses(draw: st.DrawFn, provider: str) -> gen.GenerateResponse:
    parts = draw(
        st.lists(TEXT_PARTS | THINKING_PARTS | CALL_PARTS, max_size=5).filter(_readable_in_order)
    )
    response = gen.GenerateResponse(
        id=draw(IDS), model=draw(NAMES), provider=provider, message=msg(MODEL, *parts)
    )
    reason = draw(
        st.sampled_from(
            [
                gen.FINISH_REASON_STOP,
                gen.FINISH_REASON_TOOL_CALLS,
                gen.FINISH_REASON_LENGTH,
                gen.FINISH_REASON_CONTENT_FILTER,
            ]
        )
    )
    if reason in (gen.FINISH_REASON_STOP, gen.FINISH_REASON_TOOL_CALLS):
        has_calls = any(p.HasField("tool_call") for p in parts)
        reason = gen.FINISH_REASON_TOOL_CALLS if has_calls else gen.FINISH_REASON_STOP
    response.finish_reason = reason  # type: ignore[assignment]
    if draw(st.booleans()):
        output = draw(st.integers(0, 10**6))
        response.usage.CopyFrom(
            gen.Usage(
                input_tokens=draw(st.integers(0, 10**6)),
                output_tokens=output,
                reasoning_tokens=draw(st.integers(0, output)),
                cached_input_tokens=draw(st.integers(0, 10**6)),
            )
        )
    canonical.stamp_origin(response.message, provider)
    return response


@pytest.mark.parametrize("dialect", [DIALECT, VERTEX_DIALECT], ids=["gemini", "vertex"])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_response_round_trips_through_the_wire(dialect, data: st.DataObject) -> None:
    response = data.draw(responses(PROVIDER_OF[dialect.name]))
    body = orjson.loads(orjson.dumps(dialect.encode_response(response, {"session_id": "s"})))
    assert dialect.decode_response(body) == response


@pytest.mark.parametrize("dialect", [DIALECT, VERTEX_DIALECT], ids=["gemini", "vertex"])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_stream_round_trips_and_folds_to_the_response(dialect, data: st.DataObject) -> None:
    response = data.draw(responses(PROVIDER_OF[dialect.name]))
    chunks = [
        orjson.loads(item)
        for item in encode_stream(canonical.response_events(response), dialect, {"session_id": "s"})
    ]
    events = decode_stream(chunks, dialect)
    assert not any(event.HasField("failure") for event in events)
    assert canonical.fold_events(events) == response
