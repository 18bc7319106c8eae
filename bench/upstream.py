"""A fast fake OpenAI Chat Completions upstream for benchmarks: raw ASGI, fixed answers, no
delay, so that what is measured is the gateway in front of it.

    python -m bench.upstream --port 9100 --chunks 50
"""

from __future__ import annotations

import argparse
import time

import orjson
import uvicorn

WORD = "token "


def _chunk(index: int, content: str | None, finish: str | None) -> bytes:
    delta = {"content": content} if content is not None else {}
    if index == 0:
        delta = {"role": "assistant", "content": ""}
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def make_app(chunks: int):  # type: ignore[no-untyped-def]
    usage = {"prompt_tokens": 10, "completion_tokens": chunks, "total_tokens": 10 + chunks}
    stream_body = [_chunk(0, None, None)]
    stream_body += [_chunk(i + 1, WORD, None) for i in range(chunks)]
    stream_body.append(_chunk(chunks + 1, None, "stop"))
    usage_chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt-4o",
        "choices": [],
        "usage": usage,
    }
    stream_body.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\ndata: [DONE]\n\n")
    whole = orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": WORD * chunks},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        stream = b'"stream":true' in body.replace(b" ", b"")
        content_type = b"text/event-stream" if stream else b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type)],
            }
        )
        if not stream:
            await send({"type": "http.response.body", "body": whole})
            return
        for piece in stream_body:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=50)
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.chunks),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
