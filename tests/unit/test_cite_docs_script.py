"""scripts/cite_docs.py: each old wire-reference citation becomes the docs/protocols page that
holds the fact, and every page and heading its table names exists."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD = "PROTO" + "COLS"  # spelled apart so that this file cites nothing itself


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cite_docs", ROOT / "scripts" / "cite_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cite_docs"] = module
    spec.loader.exec_module(module)
    return module


cite_docs = _load()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"({OLD} 1.6)", "(docs/protocols/openai-chat.md#errors)"),
        (f"Wire facts: {OLD}.md section 1.", "Wire facts: docs/protocols/openai-chat.md."),
        (
            f"(shared/{OLD}.md 2.6)",
            "(docs/protocols/openai-responses.md#websocket-mode)",
        ),
        (
            f"({OLD}.md 0.1, 2.4, 7.2)",
            "(docs/protocols/sdk-clients.md, docs/protocols/openai-responses.md#streaming)",
        ),
        (
            f"({OLD}.md 4.4-4.6, 5.3)",
            "(docs/protocols/gemini.md#response-object, #streaming, #errors, #vertex-differences)",
        ),
        (
            f"{OLD}.md section 2.2 and 2.3.",
            "docs/protocols/openai-responses.md#input-items, #response-object.",
        ),
        (f"{OLD}.md 4 and 5.", "docs/protocols/gemini.md."),
        (f"see {OLD}.md", "see docs/protocols/README.md"),
        (f"ALPN_{OLD} = {OLD}", f"ALPN_{OLD} = {OLD}"),  # not citations
    ],
)
def test_old_citations_become_docs_citations(old: str, new: str) -> None:
    assert cite_docs.rewrite(old)[0] == new
    assert cite_docs.rewrite(new)[0] == new  # idempotent


def test_a_section_without_a_page_is_an_error() -> None:
    with pytest.raises(cite_docs.UnknownSection):
        cite_docs.rewrite(f"({OLD} 9.9)")


@pytest.mark.parametrize("target", sorted(set(cite_docs.SECTIONS.values())))
def test_every_target_of_the_table_is_a_page_with_that_heading(target: str) -> None:
    from tests.unit.test_docs_citations import anchors_of

    page, _, anchor = target.partition("#")
    path = ROOT / "docs" / "protocols" / page
    assert path.is_file()
    if anchor:
        assert anchor in anchors_of(path)


def test_a_long_rewritten_comment_wraps_as_comment_lines() -> None:
    line = "    # " + "word " * 25 + "(docs/protocols/openai-chat.md#streaming)."
    wrapped = cite_docs.wrap(line)
    assert len(wrapped) > 1
    assert all(len(part) <= 100 and part.startswith("    # ") for part in wrapped)
    assert " ".join(p.strip()[2:] for p in wrapped) == line.strip()[2:]


def test_rewriting_a_file_keeps_its_lines_within_the_limit(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        f'"""A docstring line that is already fairly long and cites ({OLD}.md 4.4-4.6, 5.3).\n'
        '"""\n\nx = 1  # short\n'
    )
    assert cite_docs.rewrite_file(source) == 1
    lines = source.read_text().splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert OLD not in source.read_text()
    compile(source.read_text(), str(source), "exec")


def test_a_citation_inside_a_code_string_is_never_split(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    padding = "x" * 60
    source.write_text(f'MESSAGE = "{padding} ({OLD}.md 4.4-4.6, 5.3)"\n')
    assert cite_docs.rewrite_file(source) == 1
    compile(source.read_text(), str(source), "exec")
    assert len(source.read_text().splitlines()) == 1


def test_the_overflow_of_a_docstring_line_joins_the_rest_of_its_paragraph(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        f'"""The first paragraph cites something at the end of a fairly long line ({OLD} 1.6);\n'
        "and it goes on here.\n\n- a list item stays as it is\n"
        '"""\n'
    )
    cite_docs.rewrite_file(source)
    assert source.read_text() == (
        '"""The first paragraph cites something at the end of a fairly long line\n'
        "(docs/protocols/openai-chat.md#errors); and it goes on here.\n\n"
        "- a list item stays as it is\n"
        '"""\n'
    )


def test_the_overflow_of_a_comment_joins_the_next_comment_line() -> None:
    lines = [
        "    # " + "word " * 15 + "(docs/protocols/openai-responses.md#request-fields) is cited",
        "    # here.",
        "    x = 1",
    ]
    out = cite_docs.reflow(lines, {0})
    assert out[-1] == "    x = 1"
    assert all(len(line) <= 100 and line.startswith("    # ") for line in out[:-1])
    assert out[-2].endswith("is cited here.")
