"""The translator's cache of sessions' contexts: bounded by sessions and by the memory the
contexts hold (estimated), the least recently used forgotten first, its running total of that
memory exact however entries come and go, and both bounds read from the settings."""

from __future__ import annotations

import pytest

from rhone.observability import metrics
from rhone.v1 import content_pb2 as content
from services.translator.config import TranslatorSettings
from services.translator.context_cache import (
    CachedContext,
    ContextCache,
    held_bytes,
    open_context_cache,
)

KB = 1 << 10


def text(role: int, value: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=value))])  # type: ignore[arg-type]


def context(chars: int, version: int = 1) -> CachedContext:
    """A context of two messages, `chars` characters in all."""
    return CachedContext.of(
        version,
        [
            text(content.ROLE_USER, "q" * (chars // 2)),
            text(content.ROLE_ASSISTANT, "a" * (chars // 2)),
        ],
    )


def held(cache: ContextCache, session_ids: list[str]) -> int:
    """The memory the cache's entries hold, summed again from their messages (reading them
    makes them the most recently used, in the order given)."""
    entries = [cache.get(s) for s in session_ids]
    return sum(held_bytes(e.messages) for e in entries if e is not None)


def test_an_entry_holds_about_a_byte_a_character_of_text_and_the_bytes_of_its_images():
    entry = context(100 * KB)
    assert 100 * KB <= entry.held <= 110 * KB
    screenshot = content.Part(
        image=content.ImagePart(data=b"\x89PNG" * 50_000, media_type="image/png")
    )
    call = content.Message(
        role=content.ROLE_TOOL,
        parts=[content.Part(tool_result=content.ToolResultPart(call_id="c", content=[screenshot]))],
    )
    with_image = entry.extended(2, [call])
    assert with_image.held - entry.held >= 200_000


def test_text_of_three_byte_characters_holds_three_bytes_a_character():
    """upb keeps text as UTF-8: a CJK context holds three times the bytes of as many ASCII
    characters, and the cache's budget must count them (bench/context_cache_memory.py)."""
    ascii_text = context(100 * KB)
    cjk = CachedContext.of(1, [text(content.ROLE_USER, "漢" * (100 * KB))])
    assert 300 * KB <= cjk.held <= 310 * KB
    assert cjk.held > 2.9 * ascii_text.held


def test_the_least_recently_used_sessions_go_first_when_their_memory_is_over_the_budget():
    one = context(100 * KB).held
    cache = ContextCache(max_sessions=100, max_bytes=3 * one)
    for name in ("a", "b", "c"):
        cache.put(name, context(100 * KB))
    assert cache.get("a") is not None  # now b is the least recently used
    cache.put("d", context(100 * KB))
    assert cache.get("b") is None
    assert [cache.get(s) is not None for s in ("a", "c", "d")] == [True, True, True]
    # A session twice as large pushes out the two least recently used (c, then a).
    cache.get("a")
    cache.get("d")
    cache.put("e", context(200 * KB))
    assert [cache.get(s) is not None for s in ("a", "c", "d", "e")] == [False, False, True, True]
    assert cache.held == held(cache, ["d", "e"]) <= cache.max_bytes


def test_the_running_total_is_the_sum_of_the_entries_however_they_come_and_go():
    names = [f"s{i}" for i in range(6)]
    cache = ContextCache(max_sessions=4, max_bytes=300 * KB)
    steps: list[tuple[str, str, int]] = [
        ("put", "s0", 40),
        ("put", "s1", 60),
        ("extend", "s0", 30),  # replaced by a longer version of itself
        ("put", "s2", 90),
        ("drop", "s1", 0),
        ("drop", "s5", 0),  # nothing to drop
        ("put", "s3", 20),
        ("put", "s4", 10),
        ("extend", "s2", 50),
        ("put", "s5", 100),  # over the budget: the least recent go
        ("put", "s3", 5),  # a snapshot: a shorter context replaces a longer one
        ("drop", "s2", 0),
    ]
    for action, name, kb in steps:
        if action == "put":
            cache.put(name, context(kb * KB))
        elif action == "extend":
            entry = cache.get(name)
            assert entry is not None
            cache.put(
                name, entry.extended(entry.version + 1, [text(content.ROLE_USER, "x" * kb * KB)])
            )
        else:
            cache.drop(name)
        assert cache.held == held(cache, names), (action, name)
        assert cache.held <= cache.max_bytes and len(cache) <= cache.max_sessions
    assert [name for name in names if cache.get(name) is not None] == ["s3", "s4", "s5"]
    for name in names:
        cache.drop(name)
    assert cache.held == 0 and len(cache) == 0


def test_a_context_larger_than_the_whole_budget_is_not_kept_nor_is_its_older_version():
    cache = ContextCache(max_sessions=10, max_bytes=500 * KB)
    cache.put("other", context(100 * KB))
    cache.put("long", context(300 * KB, version=4))
    grown = cache.get("long")
    assert grown is not None
    grown = grown.extended(5, [text(content.ROLE_USER, "x" * 300 * KB)])
    cache.put("long", grown)
    assert cache.get("long") is None  # version 4 would be served as if it were current
    assert cache.get("other") is not None  # nothing else made room for it in vain
    assert cache.held == held(cache, ["other", "long"])


def test_the_context_cache_forgets_the_least_recent_session():
    cache = ContextCache(2, 1 << 30)
    for name in ("a", "b"):
        cache.put(name, CachedContext.of(1, [text(content.ROLE_USER, name)]))
    cache.get("a")
    cache.put("c", CachedContext.of(1, []))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2
    off = ContextCache(0, 1 << 30)
    off.put("a", CachedContext.of(1, []))
    assert off.get("a") is None and off.held == 0


def scraped(name: str) -> float:
    body = metrics.exposition()[0].decode()
    lines = [line for line in body.splitlines() if line.startswith(name + " ")]
    assert len(lines) == 1, body
    return float(lines[0].split()[1])


def test_the_settings_bound_the_cache_and_metrics_show_what_it_holds(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.delenv("RHONE_CONTEXT_CACHE_MB", raising=False)
    assert TranslatorSettings().context_cache_mb == 256
    monkeypatch.setenv("RHONE_CONTEXT_CACHE_MB", "1")
    monkeypatch.setenv("RHONE_CONTEXT_CACHE_SESSIONS", "5")
    cache = open_context_cache(TranslatorSettings())
    for name in ("a", "b", "c"):
        cache.put(name, context(400 * KB))
    # 1 MiB holds two contexts of 400 KB, not three.
    assert cache.get("a") is None and cache.get("b") is not None and cache.get("c") is not None
    assert scraped("rhone_translator_context_cache_bytes") == cache.held == held(cache, ["b", "c"])
    assert scraped("rhone_translator_context_cache_sessions") == 2
    for name in "defghij":
        cache.put(name, context(1 * KB))
    assert len(cache) == 5 and scraped("rhone_translator_context_cache_sessions") == 5
