"""`item_reference` input items on the Responses surface, with the official openai SDK: a client
that keeps a history of stored responses sends earlier items back by id alone."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenarios import Text, Thinking
from tests.integration.conftest import API_KEY, OTHER_KEY

TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
CLAUDE = "claude-sonnet-4-6"
NOT_PERSISTED = "Items are not persisted when `store` is set to false."


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=API_KEY, max_retries=0)


def ref(item_id: str) -> dict[str, str]:
    return {"type": "item_reference", "id": item_id}


def create(client: openai.OpenAI, streamed: bool, **kwargs):
    if not streamed:
        return client.responses.create(**kwargs)
    with client.responses.stream(**kwargs) as stream:
        return stream.get_final_response()


@pytest.mark.parametrize("store", [True, False], ids=["store", "no_store"])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_a_referenced_output_message_joins_the_history(
    client: openai.OpenAI, streamed: bool, store: bool
):
    first = create(client, streamed, model="local", input="one")
    (message,) = first.output
    assert message.id.startswith("msg_")
    second = create(
        client,
        streamed,
        model="local",
        store=store,
        input=[
            {"role": "user", "content": "one"},
            ref(message.id),
            {"role": "user", "content": "two"},
        ],
    )
    assert (
        second.output_text == 'You said: "two". This is user turn 2; your first message was: "one".'
    )
    if store:  # what the turn recorded: the referenced message itself, resolved
        items = client.responses.input_items.list(second.id, order="asc").data
        assert [(i.type, getattr(i, "role", None)) for i in items] == [
            ("message", "user"),
            ("message", "assistant"),
            ("message", "user"),
        ]
        assert items[1].content[0].text == first.output_text


def test_a_referenced_function_call_names_its_tool(client: openai.OpenAI):
    asked = client.responses.create(
        model="local", input='Use get_weather with {"city": "Nice"}', tools=TOOLS
    )
    (call,) = asked.output
    assert call.type == "function_call" and call.id.startswith("fc_")
    answered = client.responses.create(
        model="local",
        tools=TOOLS,
        input=[
            {"role": "user", "content": 'Use get_weather with {"city": "Nice"}'},
            ref(call.id),
            {"type": "function_call_output", "call_id": call.call_id, "output": "warm"},
        ],
    )
    # The tool's name comes from the referenced call only.
    assert answered.output_text == "Tool get_weather returned: warm"


def test_a_referenced_input_item_is_the_stored_input(client: openai.OpenAI):
    first = client.responses.create(model="local", input="remember this")
    (stored,) = client.responses.input_items.list(first.id).data
    again = client.responses.create(
        model="local",
        input=[ref(stored.id), ref(first.output[0].id), {"role": "user", "content": "and now"}],
    )
    assert again.output_text == (
        'You said: "and now". This is user turn 2; your first message was: "remember this".'
    )


def test_an_untyped_reference_is_a_reference(client: openai.OpenAI):
    """The API's ItemReferenceParam has `type` optional."""
    first = client.responses.create(model="local", input="one")
    second = client.responses.create(
        model="local",
        input=[
            {"role": "user", "content": "one"},
            {"id": first.output[0].id},  # type: ignore[list-item]
            {"role": "user", "content": "two"},
        ],
    )
    assert second.output_text.startswith('You said: "two". This is user turn 2')


def test_local_reasoning_items_referenced_back(client: openai.OpenAI):
    thinking = {"effort": "low", "summary": "auto"}
    first = client.responses.create(model="local", input="think", reasoning=thinking)
    reasoning, message = first.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary[0].text == "Counting user turns: 1."
    second = client.responses.create(
        model="local",
        reasoning=thinking,
        input=[
            {"role": "user", "content": "think"},
            ref(reasoning.id),
            ref(message.id),
            {"role": "user", "content": "again"},
        ],
    )
    assert second.output[0].summary[0].text == "Counting user turns: 2."
    assert second.output_text.startswith('You said: "again". This is user turn 2')


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_openai_reasoning_items_referenced_back_reach_the_upstream(
    client: openai.OpenAI, fake_openai: FakeOpenAI, streamed: bool
):
    """A reasoning model behind the Responses API upstream: its reasoning item, referenced by
    id, goes back upstream with its encrypted content."""
    signature = "ZW5jcnlwdGVkLXJlYXNvbmluZw=="
    fake_openai.script(
        Text(thinking=Thinking(chunks=["Two", " and two."], signature=signature), chunks=["4"]),
        Text(chunks=["8"]),
    )
    thinking = {"effort": "medium", "summary": "auto"}
    first = create(client, streamed, model="responses-model", input="2+2?", reasoning=thinking)
    reasoning, message = first.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Two and two."
    second = create(
        client,
        streamed,
        model="responses-model",
        reasoning=thinking,
        store=False,
        input=[
            {"role": "user", "content": "2+2?"},
            ref(reasoning.id),
            ref(message.id),
            {"role": "user", "content": "times two?"},
        ],
    )
    assert second.output_text == "8"
    sent = fake_openai.last_request.body["input"]
    kinds = [item.get("type", "message") for item in sent]
    assert kinds == ["message", "reasoning", "message", "message"]
    assert sent[1]["encrypted_content"] == signature
    assert sent[1]["summary"] == [{"type": "summary_text", "text": "Two and two."}]
    assert sent[2]["role"] == "assistant"


def test_an_item_of_a_store_false_response_is_not_found(client: openai.OpenAI):
    kept_nothing = client.responses.create(model="local", input="forget me", store=False)
    item_id = kept_nothing.output[0].id
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(
            model="local", input=[ref(item_id), {"role": "user", "content": "x"}]
        )
    assert caught.value.param == "input"
    assert caught.value.body["message"] == (
        f"Item with id '{item_id}' not found. {NOT_PERSISTED} "
        "Try again with `store` set to true, or remove this item from your input."
    )


@pytest.mark.parametrize(
    "item_id", ["msg_nope", "msg_0123456789abcdef_0", "rs_nope_7", "whatever", "msg__0"]
)
def test_an_unknown_item_id_is_not_found(client: openai.OpenAI, item_id: str):
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="local", input=[ref(item_id)])
    assert caught.value.param == "input" and item_id in caught.value.message
    assert caught.value.body["type"] == "invalid_request_error"


def test_a_reference_without_an_id_is_400(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="local", input=[{"type": "item_reference"}])  # type: ignore[list-item]
    assert caught.value.param == "input[0].id"


def test_another_tenants_item_is_not_found(client: openai.OpenAI, base_url: str):
    mine = client.responses.create(model="local", input="private")
    other = openai.OpenAI(base_url=base_url + "/v1", api_key=OTHER_KEY, max_retries=0)
    for item_id in (mine.output[0].id, client.responses.input_items.list(mine.id).data[0].id):
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.create(model="local", input=[ref(item_id)])
        assert caught.value.param == "input"


def test_a_deleted_responses_items_are_not_found(client: openai.OpenAI):
    gone = client.responses.create(model="local", input="delete me")
    client.responses.delete(gone.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="local", input=[ref(gone.output[0].id)])


def test_claude_thinking_referenced_back_reaches_anthropic_with_its_signature(
    client: openai.OpenAI, fake_anthropic: FakeAnthropic
):
    signature = "Y2xhdWRlLXNpZ25hdHVyZQ=="
    fake_anthropic.script(
        Text(thinking=Thinking(chunks=["Two", " and two."], signature=signature), chunks=["4"]),
        Text(chunks=["8"]),
    )
    thinking = {"effort": "medium", "summary": "auto"}
    first = client.responses.create(model=CLAUDE, input="2+2?", reasoning=thinking)
    reasoning, message = first.output
    assert reasoning.type == "reasoning"
    second = client.responses.create(
        model=CLAUDE,
        reasoning=thinking,
        input=[
            {"role": "user", "content": "2+2?"},
            ref(reasoning.id),
            ref(message.id),
            {"role": "user", "content": "times two?"},
        ],
    )
    assert second.output_text == "8"
    assistant = fake_anthropic.last_request.body["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": "Two and two.",
        "signature": signature,
    }


def test_references_over_the_websocket_mode(client: openai.OpenAI):
    with client.responses.connect() as connection:
        connection.response.create(model="local", input="socket one")
        first = next(e for e in connection if e.type == "response.completed").response
        connection.response.create(
            model="local",
            input=[
                {"role": "user", "content": "socket one"},
                ref(first.output[0].id),
                {"role": "user", "content": "socket two"},
            ],
        )
        second = next(e for e in connection if e.type == "response.completed").response
    assert second.output_text == (
        'You said: "socket two". This is user turn 2; your first message was: "socket one".'
    )
