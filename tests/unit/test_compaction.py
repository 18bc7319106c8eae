"""The compaction machinery: sealed items only this deployment can open for this tenant, the
summary request and what a compaction keeps, the summary model setting, and the Responses
dialect's compaction item."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rhone import canonical as ev
from rhone.dialects import openai_responses
from rhone.errors import RhoneError
from rhone.launcher import compaction_secret
from rhone.v1 import content_pb2 as content
from rhone.v1 import generation_pb2 as gen
from services.translator.compaction.compactor import Compactor
from services.translator.compaction.sealing import CompactionSeal, Summary
from services.translator.compaction.summary import (
    PREAMBLE,
    kept_messages,
    open_compactions,
    render_transcript,
    summary_request,
)

SECRET = b"a test secret of enough bytes"


def text(role: int, value: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=value))])  # type: ignore[arg-type]


def test_a_sealed_summary_opens_for_its_tenant_only():
    seal = CompactionSeal(SECRET)
    sealed = seal.seal("tenant-a", Summary("Ada lives in Turin.", model="local"))
    assert "Ada" not in sealed
    assert seal.open("tenant-a", sealed).text == "Ada lives in Turin."
    with pytest.raises(RhoneError) as caught:
        seal.open("tenant-b", sealed)
    assert caught.value.failure.detail == "invalid_encrypted_content"
    assert "Ada" not in caught.value.failure.message


@pytest.mark.parametrize("position", [5, 20, -3])  # the last chars may hold padding bits only
def test_any_changed_character_fails_to_open(position: int):
    seal = CompactionSeal(SECRET)
    sealed = seal.seal("t", Summary("x"))
    position %= len(sealed)
    changed = sealed[:position] + ("A" if sealed[position] != "A" else "B")
    changed += sealed[position + 1 :]
    with pytest.raises(RhoneError):
        seal.open("t", changed)


def test_another_deployments_secret_cannot_open_an_item():
    sealed = CompactionSeal(SECRET).seal("t", Summary("x"))
    with pytest.raises(RhoneError):
        CompactionSeal(b"another secret of enough bytes").open("t", sealed)


def test_without_a_secret_each_process_has_its_own_key():
    sealed = CompactionSeal.from_setting("").seal("t", Summary("x"))
    with pytest.raises(RhoneError):
        CompactionSeal.from_setting("").open("t", sealed)


def test_a_translator_loads_cryptography_only_when_it_first_seals():
    """cryptography's bindings are ~9 MiB of a translator's memory (docs/performance.md#memory):
    a translator that never compacts does not load them."""
    program = (
        "import sys\n"
        "import services.translator.__main__\n"
        "from services.translator.compaction.sealing import CompactionSeal, Summary\n"
        "seal = CompactionSeal.from_setting('a secret of enough bytes')\n"
        "print('cryptography' in sys.modules)\n"
        "seal.seal('t', Summary('x'))\n"
        "print('cryptography' in sys.modules)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert ran.stdout.split() == ["False", "True"]


def test_the_summary_request_carries_the_transcript_as_text():
    messages = [
        text(content.ROLE_USER, "Weather in Turin?"),
        content.Message(
            role=content.ROLE_ASSISTANT,
            parts=[
                content.Part(
                    tool_call=content.ToolCallPart(
                        id="c1", name="get_weather", arguments='{"city":"Turin"}'
                    )
                )
            ],
        ),
        content.Message(
            role=content.ROLE_TOOL,
            parts=[
                content.Part(
                    tool_result=content.ToolResultPart(
                        call_id="c1",
                        name="get_weather",
                        content=[content.Part(text=content.TextPart(text="sunny"))],
                    )
                )
            ],
        ),
    ]
    assert render_transcript(messages) == (
        "USER: Weather in Turin?\n\n"
        'ASSISTANT: [calls tool get_weather with {"city":"Turin"}]\n\n'
        "TOOL: [tool get_weather returned: sunny]"
    )
    request = summary_request("m", messages)
    assert request.model == "m" and request.whole
    assert [m.role for m in request.messages] == [content.ROLE_SYSTEM, content.ROLE_USER]


def test_a_compaction_keeps_the_user_messages_without_older_compactions():
    old = content.Part(compaction=content.CompactionPart(encrypted_content="rhc1.x"))
    messages = [
        text(content.ROLE_USER, "one"),
        content.Message(role=content.ROLE_USER, parts=[old]),
        text(content.ROLE_ASSISTANT, "reply"),
        text(content.ROLE_USER, "two"),
    ]
    assert [m.parts[0].text.text for m in kept_messages(messages)] == ["one", "two"]


def test_a_second_compaction_keeps_the_user_messages_not_the_first_summary():
    seal = CompactionSeal(SECRET)
    part = content.CompactionPart(encrypted_content=seal.seal("t", Summary("first gist")))
    messages = [
        text(content.ROLE_USER, "one"),
        content.Message(role=content.ROLE_USER, parts=[content.Part(compaction=part)]),
        text(content.ROLE_USER, "two"),
    ]
    open_compactions(messages, lambda p: seal.open("t", p.encrypted_content).text)
    assert "first gist" in render_transcript(messages)
    assert [m.parts[0].text.text for m in kept_messages(messages)] == ["one", "two"]


def test_opening_replaces_each_compaction_part_with_its_summary():
    seal = CompactionSeal(SECRET)
    part = content.CompactionPart(encrypted_content=seal.seal("t", Summary("the gist")))
    messages = [content.Message(role=content.ROLE_USER, parts=[content.Part(compaction=part)])]
    open_compactions(messages, lambda p: seal.open("t", p.encrypted_content).text)
    assert messages[0].parts[0].text.text == PREAMBLE + "the gist"


class RecordingProviders:
    """A providers stub that answers every Generate with one text and records the request."""

    def __init__(self) -> None:
        self.requests: list[gen.GenerateRequest] = []

    def Generate(self, request: gen.GenerateRequest, timeout: float) -> AsyncIterator[ev.Event]:
        self.requests.append(request)

        async def events() -> AsyncIterator[ev.Event]:
            for event in ev.response_events(
                gen.GenerateResponse(
                    id="r", model=request.model, message=text(content.ROLE_ASSISTANT, "gist")
                )
            ):
                yield event

        return events()


@pytest.mark.parametrize(
    ("configured", "used"), [("", "call-model"), ("cheap-model", "cheap-model")]
)
async def test_the_summary_model_is_the_setting_or_else_the_calls_own(configured: str, used: str):
    providers = RecordingProviders()
    compactor = Compactor(providers, CompactionSeal(SECRET), configured)  # type: ignore[arg-type]
    compacted = await compactor.compact("t", [text(content.ROLE_USER, "hello")], model="call-model")
    assert providers.requests[0].model == used
    assert compactor.seal.open("t", compacted.part.encrypted_content).text == "gist"
    assert [m.parts[0].text.text for m in compacted.kept] == ["hello"]


def test_the_responses_dialect_decodes_and_encodes_compaction_items():
    decoded = openai_responses.decode_request(
        {
            "model": "m",
            "input": [
                {"type": "compaction", "id": "cmp_1", "encrypted_content": "rhc1.abc"},
                {"role": "user", "content": "next"},
            ],
        },
        {},
    )
    first = decoded.request.messages[0]
    assert first.role == content.ROLE_USER
    assert first.parts[0].compaction == content.CompactionPart(
        id="cmp_1", encrypted_content="rhc1.abc"
    )
    encoded = openai_responses.encode_request(decoded.request, False)
    assert encoded["input"][0] == {
        "type": "compaction",
        "id": "cmp_1",
        "encrypted_content": "rhc1.abc",
    }


def test_make_run_keeps_one_compaction_secret_across_restarts(tmp_path, monkeypatch):
    monkeypatch.delenv("RHONE_COMPACTION_SECRET", raising=False)
    first = compaction_secret(tmp_path)
    assert compaction_secret(tmp_path) == first and len(first) >= 32
    assert (tmp_path / "compaction_secret").stat().st_mode & 0o777 == 0o600
    sealed = CompactionSeal.from_setting(first).seal("t", Summary("kept"))
    assert CompactionSeal.from_setting(compaction_secret(tmp_path)).open("t", sealed).text == "kept"
