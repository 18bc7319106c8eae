"""OpenAI Responses compaction with the official SDK: create, `responses.compact`, then continue
from the compacted items, on the local model and on Claude, Gemini and OpenAI (fake upstreams); a
changed, foreign or malformed compaction item is a clean 400 in OpenAI's shape."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.gemini_fake import FakeGemini
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Text
from tests.integration.conftest import API_KEY, OTHER_KEY

SUMMARY = "Ada lives in Turin and asked about trains."
PREAMBLE = "Summary of the earlier conversation"


def client_for(base_url: str, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return client_for(base_url)


def two_turns(client: openai.OpenAI, model: str) -> str:
    first = client.responses.create(model=model, input="My name is Ada.")
    second = client.responses.create(
        model=model, input="I live in Turin.", previous_response_id=first.id
    )
    return second.id


def as_input(compacted: Any) -> list[dict[str, Any]]:
    return [item.model_dump(exclude_none=True) for item in compacted.output]


def assert_compacted(compacted: Any) -> None:
    assert compacted.object == "response.compaction"
    *kept, item = compacted.output
    assert item.type == "compaction" and item.id.startswith("cmp_")
    assert item.encrypted_content.startswith("rhc1.")
    # Sealed: none of the summary's words is in it (a word of three letters, like "Ada", can
    # turn up by chance in a kilobyte of base64).
    assert not any(
        word in item.encrypted_content for word in SUMMARY.rstrip(".").split() if len(word) > 4
    )
    assert [(m.type, m.role) for m in kept] == [("message", "user"), ("message", "user")]
    assert [m.content[0].text for m in kept] == ["My name is Ada.", "I live in Turin."]
    assert compacted.usage.output_tokens > 0


def test_compact_and_continue_on_the_local_model(client: openai.OpenAI):
    previous = two_turns(client, "local")
    compacted = client.responses.compact(model="local", previous_response_id=previous)
    assert_compacted(compacted)
    # A new conversation from the compacted items alone (no previous_response_id, nothing
    # stored): the two user messages, the opened summary, and the new question.
    answer = client.responses.create(
        model="local",
        input=[*compacted.output, {"role": "user", "content": "Who am I?"}],
        store=False,
    )
    assert answer.output_text == (
        'You said: "Who am I?". This is user turn 4; your first message was: "My name is Ada.".'
    )


@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_compact_and_continue_on_another_provider(
    client: openai.OpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    fake_openai: FakeOpenAI,
    provider: str,
):
    fake, model = {
        "anthropic": (fake_anthropic, "claude-sonnet-4-6"),
        "gemini": (fake_gemini, "gemini-2.5-flash"),
        "openai": (fake_openai, "gpt-4.1"),
    }[provider]
    previous = two_turns(client, model)
    fake.script(Text(chunks=(SUMMARY,), usage=(40, 9)))
    compacted = client.responses.compact(model=model, previous_response_id=previous)
    assert_compacted(compacted)
    # The summary was asked of the same model, with the whole transcript as material.
    asked = orjson.dumps(fake.last_request.body).decode()
    assert "USER: My name is Ada." in asked and "USER: I live in Turin." in asked

    fake.script(Text(chunks=("You are Ada.",)))
    answer = client.responses.create(
        model=model, input=[*as_input(compacted), {"role": "user", "content": "Who am I?"}]
    )
    assert answer.output_text == "You are Ada."
    sent = orjson.dumps(fake.last_request.body).decode()
    assert PREAMBLE in sent and SUMMARY in sent and "rhc1." not in sent


def test_a_compacted_conversation_moves_to_another_provider(
    client: openai.OpenAI, fake_gemini: FakeGemini
):
    previous = two_turns(client, "local")
    compacted = client.responses.compact(model="local", previous_response_id=previous)
    fake_gemini.script(Text(chunks=("Still Ada.",)))
    answer = client.responses.create(
        model="gemini-2.5-flash",
        input=[*as_input(compacted), {"role": "user", "content": "Who am I?"}],
    )
    assert answer.output_text == "Still Ada."
    assert "USER: My name is Ada." in orjson.dumps(fake_gemini.last_request.body).decode()


def test_compact_takes_the_input_array_as_sent(client: openai.OpenAI):
    compacted = client.responses.compact(
        model="local",
        input=[
            {"role": "user", "content": "My name is Ada."},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello Ada."}],
            },
            {"role": "user", "content": "I live in Turin."},
        ],
    )
    assert_compacted(compacted)


def test_a_changed_compaction_item_is_a_400(client: openai.OpenAI):
    compacted = client.responses.compact(model="local", input="Remember 42.")
    items = as_input(compacted)
    sealed = items[-1]["encrypted_content"]
    items[-1]["encrypted_content"] = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="local", input=items)
    error = caught.value.body
    assert caught.value.status_code == 400
    assert error["code"] == "invalid_encrypted_content" and error["type"] == "invalid_request_error"


def test_another_tenant_cannot_use_a_compaction_item(client: openai.OpenAI, base_url: str):
    compacted = client.responses.compact(model="local", input="Tenant secret: 1234.")
    other = client_for(base_url, OTHER_KEY)
    with pytest.raises(openai.BadRequestError) as caught:
        other.responses.create(model="local", input=as_input(compacted))
    assert caught.value.body["code"] == "invalid_encrypted_content"
    assert "1234" not in str(caught.value.body)


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"type": "compaction"}, "input[0].encrypted_content"),
        ({"type": "compaction", "encrypted_content": ""}, "input[0].encrypted_content"),
        ({"type": "compaction", "encrypted_content": 7}, "input[0].encrypted_content"),
        ({"type": "compaction", "encrypted_content": "rhc1.not-base64!"}, "input"),
        ({"type": "compaction", "encrypted_content": "opaque-from-openai"}, "input"),
    ],
)
def test_a_malformed_compaction_item_is_a_400_naming_the_field(
    client: openai.OpenAI, item: dict[str, Any], param: str
):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="local", input=[item])
    assert caught.value.body["param"] == param


def test_compact_errors_are_in_openai_shape(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.compact(model="local", previous_response_id="resp_unknown")
    assert caught.value.body["code"] == "response_not_found"
    with pytest.raises(openai.BadRequestError):
        client.responses.compact(model="local", input=[])
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.compact(model="no-such-model", input="x")
    assert missing.value.body["code"] == "model_not_found"


def test_a_compacted_conversation_compacts_again(client: openai.OpenAI):
    """The second compaction covers the first summary and keeps only the user's messages."""
    compacted = client.responses.compact(
        model="local", previous_response_id=two_turns(client, "local")
    )
    third = client.responses.create(
        model="local", input=[*compacted.output, {"role": "user", "content": "Third."}]
    )
    again = client.responses.compact(model="local", previous_response_id=third.id)
    *kept, item = again.output
    assert item.type == "compaction"
    assert [m.content[0].text for m in kept] == ["My name is Ada.", "I live in Turin.", "Third."]
