"""Every citation in the repository points at something a reader of the repository can open.

Code cites the repository's own docs (``docs/protocols/gemini.md#streaming``) or a provider's
public documentation URL, never a file that lives beside the repository on one machine (the old
wire reference, design notes, an absolute path). A cited docs page must exist and, when the
citation names a heading, have that heading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".rhone"}
_SUFFIXES = {".py", ".js", ".mjs", ".cjs", ".ts", ".md", ".proto", ".toml", ".yaml", ".yml"}
_SUFFIXES |= {".sh", ".txt", ".cfg", ".ini"}
_NAMES = {"Makefile", "Dockerfile"}
# This test names what it forbids (spelled in pieces, so that no search finds it here).
_OLD_REFERENCE = "PROTO" + "COLS"
_EXEMPT = {Path(__file__).resolve().relative_to(ROOT)}

OUTSIDE = [
    # The old out-of-repository wire reference, now docs/protocols/.
    (
        "the old wire reference",
        re.compile(rf"\b{_OLD_REFERENCE}(?:\.md|\s+(?:section\s*)?\d|\s*§)"),
    ),
    # Design notes kept beside the repository (docs/architecture.md is the repository's own).
    ("a design note outside the repository", re.compile(r"shared/[A-Z][\w-]*\.md")),
    ("a design note outside the repository", re.compile(r"(?<![\w/])(?:STYLE|ARCHITECTURE)\.md")),
    # Absolute paths of a development machine.
    ("an absolute path outside the repository", re.compile(r"(?<![\w.])/(?:work|home)/\w")),
]
# docs/<page>.md, optionally with #anchor, and more anchors of the same page: ", #other".
DOC_CITATION = re.compile(r"\bdocs/([\w/.-]+?\.md)((?:#[\w-]+)?(?:,\s*#[\w-]+)*)")
MARKDOWN_LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s#]*)(#[\w-]+)?\)")


def repository_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in _SKIP_DIRS or part.startswith(".venv") for part in relative.parts):
            continue
        if relative in _EXEMPT or not path.is_file():
            continue
        if path.suffix in _SUFFIXES or path.name in _NAMES:
            yield path


@cache
def texts() -> dict[Path, str]:
    out = {}
    for path in repository_files():
        try:
            out[path] = path.read_text()
        except UnicodeDecodeError:
            continue
    return out


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors_of(page: Path) -> frozenset[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", page.read_text(), flags=re.MULTILINE)
    return frozenset(slug(h) for h in headings)


def broken(page: Path, anchors: list[str]) -> str | None:
    if not page.is_file():
        return "no such page"
    missing = [a for a in anchors if a not in anchors_of(page)]
    return f"no heading for #{', #'.join(missing)}" if missing else None


def test_no_file_cites_anything_outside_the_repository() -> None:
    found = []
    for path, text in texts().items():
        for number, line in enumerate(text.splitlines(), 1):
            for what, pattern in OUTSIDE:
                if match := pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {match.group(0)}")
    assert not found, "\n".join(found)


def test_every_docs_citation_names_a_page_and_heading_that_exist() -> None:
    found = []
    for path, text in texts().items():
        for match in DOC_CITATION.finditer(text):
            anchors = re.findall(r"#([\w-]+)", match.group(2))
            if problem := broken(ROOT / "docs" / match.group(1), anchors):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}: {problem}")
    assert not found, "\n".join(found)


def test_links_between_docs_pages_resolve() -> None:
    found = []
    for path, text in texts().items():
        if path.suffix != ".md":
            continue
        for match in MARKDOWN_LINK.finditer(text):
            target, anchor = match.group(1), (match.group(2) or "")[1:]
            if target and not target.endswith(".md"):
                if not (path.parent / target).exists():  # a source file or a directory
                    found.append(f"{path.relative_to(ROOT)}: ({target}): no such file")
                continue
            page = (path.parent / target).resolve() if target else path
            if problem := broken(page, [anchor] if anchor else []):
                found.append(f"{path.relative_to(ROOT)}: ({match.group(0)[2:-1]}): {problem}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("# Chat chunks (PROTO" + "COLS 1.5).", "the old wire reference"),
        ("Wire facts: PROTO" + "COLS.md section 2.", "the old wire reference"),
        ('"""(shared/PROTO' + 'COLS.md 2.6)"""', "the old wire reference"),
        ("see shared/" + "STYLE.md", "a design note outside the repository"),
        ("see /wo" + "rk/shared/notes", "an absolute path outside the repository"),
    ],
)
def test_the_patterns_catch_what_they_forbid(line: str, what: str) -> None:
    assert any(name == what and pattern.search(line) for name, pattern in OUTSIDE)


def test_the_patterns_leave_the_repositorys_own_docs_alone() -> None:
    for line in (
        f"ALPN_{_OLD_REFERENCE} = ['http/1.1']",
        "(docs/protocols/openai-chat.md#streaming)",
        "see docs/architecture.md#glossary",
    ):
        assert not any(pattern.search(line) for _, pattern in OUTSIDE), line
    assert slug("Stream parsers") == "stream-parsers"
    assert slug("google-genai on Vertex") == "google-genai-on-vertex"
    assert slug("The `rhone` object") == "the-rhone-object"


REPO_PATH = re.compile(
    r"`((?:services|rhone|proto|deploy|tests|scripts|docs|clients|bench)/[^`\s]*)`"
)


def test_every_source_path_the_docs_name_exists() -> None:
    """docs/architecture.md walks a call through the code by file path: a moved file must take
    the doc with it."""
    found = []
    for path, text in texts().items():
        if path.suffix != ".md" or "docs" not in path.relative_to(ROOT).parts[:1]:
            continue
        for match in REPO_PATH.finditer(text):
            named = match.group(1).split("#")[0].rstrip(".,;:")
            if re.search(r"[<>*{}]", named):
                continue  # a pattern (`rhone/dialects/<format>/`), not a path
            if not (ROOT / named).exists():
                found.append(f"{path.relative_to(ROOT)}: {named}: no such file or directory")
    assert not found, "\n".join(found)
