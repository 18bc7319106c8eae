"""What the translator's context cache really holds against its estimate, per shape of session.

Each shape runs in a child process of its own: it makes the turns' CommitTurnResponses as the
sessions service sends them, then caches them as turns.py does (parse, `extended`, `put`) and
reads the process's resident memory before and after. The ratio measured / estimated is what
the constants of services/translator/context_cache.py are chosen by (close to 1 for text, above
it for the shapes they do not cover).

    python -m bench.context_cache_memory [--tokens 20000000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from rhone.token_estimate import message_size
from rhone.v1 import content_pb2 as content
from rhone.v1 import sessions_pb2 as spb
from services.translator.context_cache import CachedContext, ContextCache

TURNS_PER_SESSION = 50
_PAGE = os.sysconf("SC_PAGE_SIZE")
_rng = random.Random(7)
_WORDS = "the of and to in is that for it as with was on be by this are at from or an".split()


def _rss() -> int:
    gc.collect()
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE


def _prose(chars: int) -> str:
    words, n = [], 0
    while n < chars:
        word = _rng.choice(_WORDS)
        if _rng.random() < 0.3:
            word = "".join(_rng.choices("abcdefghijklmnopqrstuvwxyz_./", k=_rng.randint(3, 12)))
        words.append(word)
        n += len(word) + 1
    return " ".join(words)


def _cjk(chars: int) -> str:
    return "".join(chr(_rng.randint(0x4E00, 0x9FFF)) for _ in range(chars))


def _text(role: int, value: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=value))])  # type: ignore[arg-type]


def _chat(lo: int, hi: int, write: Callable[[int], str] = _prose) -> list[content.Message]:
    return [
        _text(content.ROLE_USER, write(_rng.randint(lo, hi))),
        _text(content.ROLE_ASSISTANT, write(_rng.randint(lo, hi))),
    ]


def _agent(image_bytes: int = 0) -> list[content.Message]:
    """A coding agent's turn: an ask, a tool call, its result (with a screenshot), an answer."""
    call_id = f"call_{_rng.getrandbits(32):08x}"
    result = [content.Part(text=content.TextPart(text=_prose(_rng.randint(200, 8000))))]
    if image_bytes:
        image = content.ImagePart(data=_rng.randbytes(image_bytes), media_type="image/png")
        result.append(content.Part(image=image))
    return [
        _text(content.ROLE_USER, _prose(_rng.randint(20, 400))),
        content.Message(
            role=content.ROLE_ASSISTANT,
            parts=[
                content.Part(text=content.TextPart(text=_prose(_rng.randint(0, 200)))),
                content.Part(
                    tool_call=content.ToolCallPart(
                        id=call_id, name="read_file", arguments=f'{{"path": "{_prose(30)}"}}'
                    )
                ),
            ],
        ),
        content.Message(
            role=content.ROLE_TOOL,
            parts=[
                content.Part(
                    tool_result=content.ToolResultPart(
                        call_id=call_id, name="read_file", content=result
                    )
                )
            ],
        ),
        _text(content.ROLE_ASSISTANT, _prose(_rng.randint(50, 1500))),
    ]


# name: (a turn's messages, the response settings each turn carries back, a share of --tokens)
SHAPES: dict[str, tuple[Callable[[], list[content.Message]], int, float]] = {
    "short messages (1-40 chars)": (lambda: _chat(1, 40), 0, 0.25),
    "chat (200-4000 chars)": (lambda: _chat(200, 4000), 0, 1),
    "long messages (2k-40k chars)": (lambda: _chat(2000, 40000), 0, 1),
    "coding agent": (_agent, 0, 1),
    "coding agent, Responses (20 KB settings)": (_agent, 20000, 1),
    "CJK chat (200-4000 chars)": (lambda: _chat(200, 4000, _cjk), 0, 0.5),
    "agent with 200 KB screenshots": (lambda: _agent(200_000), 0, 0.1),
}


def measure(shape: str, tokens: int) -> None:
    make_turn, settings_chars, share = SHAPES[shape]
    settings = _prose(settings_chars)
    wires: list[bytes] = []
    made = 0
    while made < tokens * share:
        messages = make_turn()
        turn = spb.Turn(input=messages[:-1], output=messages[-1], response_settings_json=settings)
        wires.append(spb.CommitTurnResponse(turn=turn, version=1).SerializeToString())
        made += sum(message_size(m) for m in messages)
    del messages, turn
    cache = ContextCache(max_sessions=1 << 30, max_bytes=1 << 62)
    before = _rss()
    entry = CachedContext.of(0, [])
    for i, wire in enumerate(wires):
        if i % TURNS_PER_SESSION == 0:
            entry = CachedContext.of(0, [])
        committed = spb.CommitTurnResponse.FromString(wire)
        entry = entry.extended(i + 1, [*committed.turn.input, committed.turn.output])
        cache.put(f"s{i // TURNS_PER_SESSION}", entry)
    del committed, entry, wires
    measured = _rss() - before
    entries = [cache.get(f"s{i}") for i in range(len(cache))]
    count = sum(len(e.sizes) for e in entries if e)
    estimate = sum(sum(e.sizes) for e in entries if e)
    print(
        f"| {shape} | {count} | {estimate / count:.0f} | {measured / count:.0f} "
        f"| {measured / 2**20:.1f} | {cache.held / 2**20:.1f} | {measured / cache.held:.2f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20_000_000)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shape:
        measure(args.shape, args.tokens)
        return
    print(
        "| shape | messages | tokens a message (estimated) | bytes a message (measured) "
        "| measured MiB | estimated MiB | measured / estimated |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for shape in SHAPES:
        command = [sys.executable, "-m", "bench.context_cache_memory", "--shape", shape]
        subprocess.run([*command, "--tokens", str(args.tokens)], check=True)


if __name__ == "__main__":
    main()
