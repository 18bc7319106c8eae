#!/usr/bin/env python3
"""Rewrites citations of the old out-of-repository wire reference (``PROTOCOLS 1.6``,
``PROTOCOLS.md section 2``, ``shared/PROTOCOLS.md 2.3-2.4``, ...) into citations of the pages
under docs/protocols/ (``docs/protocols/openai-chat.md#errors``).

Code must cite what a reader can open: the repository's own docs or a provider's public page.
Run it after merging a branch that still cites the old reference; it is idempotent.

    python scripts/cite_docs.py            # rewrite in place, print what changed
    python scripts/cite_docs.py --check    # change nothing; exit 1 if a citation is left

A rewritten line of a Python file that outgrows the line limit is wrapped at a space, keeping
its comment marker or its indentation, so that ``make lint`` stays clean."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = "docs/protocols"
LINE_LIMIT = 100  # pyproject.toml [tool.ruff] line-length

# Section of the old reference -> page (and anchor) under docs/protocols/.
SECTIONS: dict[str, str] = {
    "0": "README.md",
    "0.1": "sdk-clients.md",
    "1": "openai-chat.md",
    "1.1": "openai-chat.md#request-fields",
    "1.2": "openai-chat.md#messages",
    "1.3": "openai-chat.md#response-object",
    "1.4": "openai-chat.md#usage",
    "1.5": "openai-chat.md#streaming",
    "1.6": "openai-chat.md#errors",
    "1.7": "openai-chat.md#headers",
    "2": "openai-responses.md",
    "2.1": "openai-responses.md#request-fields",
    "2.2": "openai-responses.md#input-items",
    "2.3": "openai-responses.md#response-object",
    "2.4": "openai-responses.md#streaming",
    "2.5": "openai-responses.md#other-routes",
    "2.6": "openai-responses.md#websocket-mode",
    "3": "anthropic-messages.md",
    "3.1": "anthropic-messages.md#headers",
    "3.2": "anthropic-messages.md#request-fields",
    "3.3": "anthropic-messages.md#response-object",
    "3.4": "anthropic-messages.md#streaming",
    "3.5": "anthropic-messages.md#errors",
    "3.6": "anthropic-messages.md#other-routes",
    "4": "gemini.md",
    "4.1": "gemini.md#developer-api-routes",
    "4.2": "gemini.md#developer-api-auth",
    "4.3": "gemini.md#request-body",
    "4.4": "gemini.md#response-object",
    "4.5": "gemini.md#streaming",
    "4.6": "gemini.md#errors",
    "4.7": "gemini.md#field-name-case",
    "4.8": "sdk-clients.md#google-genai-with-a-custom-base-url",
    "5": "gemini.md#vertex-ai",
    "5.1": "gemini.md#vertex-endpoints",
    "5.2": "gemini.md#vertex-auth",
    "5.3": "gemini.md#vertex-differences",
    "5.4": "sdk-clients.md#google-genai-on-vertex",
    "6": "upstreams.md",
    # The old reference's closing checklist: each item points at the fact it summarises.
    "7": "sdk-clients.md",
    "7.1": "openai-chat.md#streaming",
    "7.2": "openai-responses.md#streaming",
    "7.3": "openai-responses.md#websocket-mode",
    "7.4": "anthropic-messages.md#streaming",
    "7.5": "gemini.md#streaming",
    "7.6": "gemini.md#developer-api-routes",
    "7.7": "gemini.md#field-name-case",
    "7.8": "gemini.md#vertex-differences",
    "7.9": "sdk-clients.md#errors-before-the-stream",
    "7.10": "sdk-clients.md#request-headers",
}

_NUMBER = r"\d+(?:\.\d+)?"
_REFS = rf"{_NUMBER}(?:\s*(?:,|[-\u2013]|\band\b)\s*{_NUMBER})*"
# "PROTOCOLS 1.6", "PROTOCOLS.md 0.1, 2.4, 7.2", "shared/PROTOCOLS.md section 2.2 and 2.3",
# "PROTOCOLS.md 4.4-4.6, 5.3", "PROTOCOLS.md 4 and 5", "PROTOCOLS §2.6", "PROTOCOLS.md". A bare
# "PROTOCOLS" (a constant, say) is not a citation and is left alone.
CITATION = re.compile(
    r"(?:(?:/work/)?shared/)?\bPROTOCOLS(?P<md>\.md)?"
    rf"(?:(?:\s+section\s*|\s*§\s*|\s+)(?P<refs>{_REFS}))?"
)
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
_SUFFIXES = {".py", ".js", ".mjs", ".cjs", ".ts", ".md", ".proto", ".toml", ".yaml", ".yml"}
_SUFFIXES |= {".sh", ".txt", ".cfg", ".ini"}
_NAMES = {"Makefile", "Dockerfile"}


class UnknownSection(ValueError):
    pass


def sections_of(refs: str) -> list[str]:
    """ "2.3-2.4, 5.3" -> ["2.3", "2.4", "5.3"]; "4 and 5" -> ["4", "5"]."""
    out: list[str] = []
    for part in re.split(r"\s*(?:,|\band\b)\s*", refs.strip()):
        span = re.fullmatch(rf"({_NUMBER})\s*[-\u2013]\s*({_NUMBER})", part)
        if span is None:
            out.append(part)
            continue
        first, last = span.groups()
        (major, _, lo), (last_major, _, hi) = first.partition("."), last.partition(".")
        if lo and hi and major == last_major:
            out += [f"{major}.{minor}" for minor in range(int(lo), int(hi) + 1)]
        else:
            out += [first, last]
    return out


def citation_for(refs: str | None) -> str:
    """The docs/protocols citation replacing one old citation; anchors of one page share it:
    ``docs/protocols/gemini.md#streaming, #errors``."""
    if not refs:
        return f"{PAGES}/README.md"
    targets: list[str] = []
    for section in sections_of(refs):
        if section not in SECTIONS:
            raise UnknownSection(section)
        if SECTIONS[section] not in targets:
            targets.append(SECTIONS[section])
    # A page cited whole already covers its headings.
    whole = {t for t in targets if "#" not in t}
    targets = [t for t in targets if t in whole or t.partition("#")[0] not in whole]
    parts: list[str] = []
    page_before = ""
    for target in targets:
        page, _, anchor = target.partition("#")
        if page == page_before and anchor:
            parts.append(f"#{anchor}")
        else:
            parts.append(f"{PAGES}/{target}")
        page_before = page
    return ", ".join(parts)


def rewrite(text: str) -> tuple[str, int]:
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if not match.group("md") and not match.group("refs"):
            return match.group(0)
        count += 1
        return citation_for(match.group("refs"))

    return CITATION.sub(replace, text), count


def _prefix(line: str) -> tuple[str, str]:
    """A comment or docstring line as (what every line of its paragraph starts with, text)."""
    indent = line[: len(line) - len(line.lstrip())]
    stripped = line.lstrip()
    if stripped.startswith("#"):
        text = stripped[1:]
        return indent + "# ", text[1:] if text.startswith(" ") else text
    return indent, stripped


def wrap(line: str, limit: int = LINE_LIMIT) -> list[str]:
    """A too-long comment or docstring line split at spaces, continuation lines keeping the
    comment marker or the indentation."""
    if len(line) <= limit:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    # A comment, whole-line or after code, continues as a comment line; a docstring continues
    # as text at the line's indentation.
    comment = line.lstrip().startswith("#") or "  # " in line
    prefix = indent + "# " if comment else indent
    out: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", len(prefix) + 1, limit + 1)
        if cut <= len(prefix):
            break  # one unbreakable word: leave it to a person
        out.append(line[:cut].rstrip())
        line = prefix + line[cut + 1 :]
    return [*out, line]


def _continues(carry: str, text: str) -> bool:
    """Whether a line's text continues the paragraph a wrapped line overflowed into."""
    if '"""' in carry or "'''" in carry or not text.strip():
        return False
    return not re.match(r"(?:[-*|>] |```|\"\"\"|\'\'\'|\d+\. |>>>)", text)


def reflow(lines: list[str], changed: set[int], limit: int = LINE_LIMIT) -> list[str]:
    """Wraps the rewritten lines that outgrew the limit, carrying the overflow into the next
    line of the same paragraph (same comment marker or indentation) as a person would."""
    out: list[str] = []
    carry: tuple[str, str] | None = None  # (prefix, text) waiting for the next line
    for index, line in enumerate(lines):
        touched = index in changed
        if carry is not None:
            prefix, text = _prefix(line)
            if prefix == carry[0] and _continues(carry[1], text):
                line, touched = f"{prefix}{carry[1]} {text}", True
            else:
                out.append(carry[0] + carry[1])
            carry = None
        if touched and len(line) > limit:
            parts = wrap(line, limit)
            out += parts[:-1]
            if len(parts) > 1:
                carry = _prefix(parts[-1])
                if not parts[-1].startswith(carry[0]):
                    carry = None
                    out.append(parts[-1])
            else:
                out.append(parts[-1])
        else:
            out.append(line)
    if carry is not None:
        out.append(carry[0] + carry[1])
    return out


def rewrite_file(path: Path) -> int:
    text = path.read_text()
    new, count = rewrite(text)
    if count == 0:
        return 0
    if path.suffix == ".py":
        old_lines = set(text.splitlines())
        lines = new.splitlines()
        changed = {i for i, line in enumerate(lines) if line not in old_lines}
        wrapped = "\n".join(reflow(lines, changed)) + ("\n" if new.endswith("\n") else "")
        # Wrapping is for comments and docstrings; a citation inside a code string must not be
        # split. When the wrapped module no longer compiles, keep the long line for a person.
        try:
            compile(wrapped, str(path), "exec")
            new = wrapped
        except SyntaxError:
            print(f"{path}: a rewritten line is too long; wrap it by hand", file=sys.stderr)
    path.write_text(new)
    return count


def candidate_files(root: Path) -> Iterator[Path]:
    this = Path(__file__).resolve()
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(part in _SKIP_DIRS or part.startswith(".venv") for part in parts):
            continue
        if not path.is_file() or path.resolve() == this:
            continue
        if path.suffix in _SUFFIXES or path.name in _NAMES:
            yield path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    found = failed = 0
    for path in candidate_files(args.root):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        if not any(m.group("md") or m.group("refs") for m in CITATION.finditer(text)):
            continue
        name = path.relative_to(args.root)
        try:
            if args.check:
                _, count = rewrite(text)
            else:
                count = rewrite_file(path)
        except UnknownSection as exc:
            print(f"{name}: no docs/protocols page for section {exc}", file=sys.stderr)
            failed += 1
            continue
        found += count
        print(f"{name}: {count} citation(s) {'to rewrite' if args.check else 'rewritten'}")
    if failed:
        return 2
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
