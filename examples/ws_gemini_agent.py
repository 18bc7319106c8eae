"""A google-genai style agent loop over one rhone.ws.v1 socket (docs/rhone-ws-v1.md).

The conversation is built with google-genai's own types and sent as the
`gemini.generate_content` surface; the answers are google-genai `GenerateContentResponse`
chunks. The first question runs as a plain call; the second as a run, in which the model asks
for a tool, this script answers, and the model continues, all on the same session and socket.
If the socket drops during the run, the script reconnects and resumes the run where it was.

    RHONE_API_KEY=... python examples/ws_gemini_agent.py [http://127.0.0.1:8080] [model]

With `make run`, the default model `local` answers (it asks for a tool when told to use one)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from google.genai import types

from rhone.ws_client import RhoneWsClient, RhoneWsClosed, RunStream

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Current weather in a city",
            parameters_json_schema={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        )
    ]
)


def wire(value: Any) -> Any:
    """A google-genai object as its REST JSON (camelCase, unset fields left out)."""
    return value.model_dump(mode="json", by_alias=True, exclude_none=True)


def request(model: str, text: str, tools: list[types.Tool] | None = None) -> dict[str, Any]:
    """A GenerateContentRequest plus the model name: the gemini.generate_content body."""
    body: dict[str, Any] = {
        "model": model,
        "contents": [wire(types.Content(role="user", parts=[types.Part(text=text)]))],
    }
    if tools:
        body["tools"] = [wire(tool) for tool in tools]
    return body


def chunk(event: dict[str, Any]) -> types.GenerateContentResponse:
    """An event as google-genai reads a streamed chunk (it ignores Rhone's `rhone` field)."""
    return types.GenerateContentResponse.model_validate(
        {k: v for k, v in event.items() if k != "rhone"}
    )


def get_weather(city: str) -> dict[str, Any]:
    return {"city": city, "temperature_c": 21, "sky": "clear"}


async def follow(run: RunStream) -> None:
    """Prints the run's answers and answers its tool calls until the run ends."""
    async for frame in run:
        if frame["type"] == "run.event":
            print(chunk(frame["event"]).text or "", end="", flush=True)
        elif frame["type"] == "run.requires_action":
            outputs = []
            for call in frame["tool_calls"]:
                args = types.FunctionCall(name=call["name"], args=_json(call["arguments"]))
                print(f"\n[tool] {args.name}({args.args})")
                outputs.append({"tool_call_id": call["id"], "output": get_weather(**args.args)})
            await run.submit_tool_outputs(outputs)
        elif frame["type"] in ("run.failed", "run.cancelled"):
            print(f"\n[run ended: {frame['type']} {frame.get('code', '')}]")


def _json(text: str) -> dict[str, Any]:
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}


async def main(base_url: str, api_key: str, model: str) -> str:
    """Runs the conversation; returns how the run ended."""
    async with await RhoneWsClient.connect(base_url, api_key) as ws:
        session_id = await ws.bind_session()
        print(f"session {session_id}")
        async for event in ws.create("gemini.generate_content", request(model, "I am Ada.")):
            print(chunk(event).text or "", end="", flush=True)
        print()
        run = ws.runs.create(
            "gemini.generate_content",
            request(model, "Use get_weather for Lyon, please.", [WEATHER]),
        )
        try:
            await follow(run)
        except RhoneWsClosed:
            # The run went on without us: resume it from the last event seen, on a new socket.
            async with await RhoneWsClient.connect(base_url, api_key) as again:
                run = again.runs.attach(run.run_id or "", after=run.last_seq)
                await follow(run)
        print(f"\n[run {run.run_id}: {run.status}]")
        return run.status


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    name = sys.argv[2] if len(sys.argv) > 2 else "local"
    asyncio.run(main(url, os.environ["RHONE_API_KEY"], name))
