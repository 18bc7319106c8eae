"""The rhone continuity object and how a call's messages meet the session's context."""

from __future__ import annotations

import pytest

from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as c
from rhone.v1 import generation_pb2 as gen
from services.translator.continuity import Continuity, compose, parse_continuity


def msg(role: int, text: str) -> c.Message:
    return c.Message(role=role, parts=[c.Part(text=c.TextPart(text=text))])  # type: ignore[arg-type]


def texts(messages) -> list[str]:
    return [m.parts[0].text.text for m in messages]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, Continuity()),
        ({}, Continuity()),
        ({"session_id": "sess_1"}, Continuity(session_id="sess_1")),
        ({"context_mode": "stateless"}, Continuity(stateless=True)),
        ({"session_id": "s", "context_mode": "stateful"}, Continuity(session_id="s")),
    ],
)
def test_parse_continuity(value, expected):
    assert parse_continuity(value) == expected


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ("sess_1", "rhone"),
        ({"session_id": 5}, "rhone.session_id"),
        ({"context_mode": "forgetful"}, "rhone.context_mode"),
        ({"sesion_id": "typo"}, "rhone.sesion_id"),
    ],
)
def test_bad_continuity_is_a_clear_400(value, param):
    with pytest.raises(RhoneError) as caught:
        parse_continuity(value)
    assert caught.value.failure.param == param


def test_stateful_prepends_context_and_records_only_new_messages():
    context = [msg(c.ROLE_USER, "first"), msg(c.ROLE_ASSISTANT, "answer")]
    request = gen.GenerateRequest(model="local", messages=[msg(c.ROLE_USER, "second")])
    composed = compose(request, context, [], stateless=False)
    assert texts(composed.request.messages) == ["first", "answer", "second"]
    assert texts(composed.turn_input) == ["second"]
    assert composed.instructions is None and not composed.snapshot


def test_a_system_prompt_applies_to_the_call_and_becomes_the_default():
    request = gen.GenerateRequest(messages=[msg(c.ROLE_SYSTEM, "new"), msg(c.ROLE_USER, "q")])
    composed = compose(request, [msg(c.ROLE_USER, "old q")], [msg(c.ROLE_SYSTEM, "old")], False)
    assert texts(composed.request.messages) == ["new", "old q", "q"]
    assert texts(composed.instructions or []) == ["new"]
    assert texts(composed.turn_input) == ["q"]


def test_the_session_default_instructions_apply_when_none_sent():
    request = gen.GenerateRequest(messages=[msg(c.ROLE_USER, "q")])
    composed = compose(request, [], [msg(c.ROLE_SYSTEM, "default")], False)
    assert texts(composed.request.messages) == ["default", "q"]


def test_stateless_uses_the_transcript_as_sent_and_records_a_snapshot():
    request = gen.GenerateRequest(
        messages=[
            msg(c.ROLE_SYSTEM, "s"),
            msg(c.ROLE_USER, "a"),
            msg(c.ROLE_ASSISTANT, "b"),
            msg(c.ROLE_USER, "c"),
        ]
    )
    composed = compose(request, [msg(c.ROLE_USER, "stored")], [], stateless=True)
    assert texts(composed.request.messages) == ["s", "a", "b", "c"]
    assert texts(composed.turn_input) == ["a", "b", "c"]
    assert composed.snapshot


def call(call_id: str, name: str) -> c.Message:
    return c.Message(
        role=c.ROLE_ASSISTANT,
        parts=[c.Part(tool_call=c.ToolCallPart(id=call_id, name=name, arguments="{}"))],
    )


def result(call_id: str, name: str) -> c.Message:
    return c.Message(
        role=c.ROLE_TOOL,
        parts=[c.Part(tool_result=c.ToolResultPart(call_id=call_id, name=name))],
    )


def test_a_result_without_the_calls_id_answers_the_stored_call_of_its_tool():
    context = [
        msg(c.ROLE_USER, "q"),
        call("toolu_1", "lookup"),
        result("toolu_1", "lookup"),
        msg(c.ROLE_USER, "again"),
        call("toolu_2", "lookup"),
    ]
    request = gen.GenerateRequest(messages=[result("call_1", "lookup")])
    composed = compose(request, context, [], stateless=False)
    assert composed.request.messages[-1].parts[0].tool_result.call_id == "toolu_2"
    assert composed.turn_input[0].parts[0].tool_result.call_id == "toolu_2"


def test_results_that_name_a_known_call_are_left_alone():
    context = [msg(c.ROLE_USER, "q"), call("toolu_1", "a"), call("toolu_2", "b")]
    request = gen.GenerateRequest(messages=[result("toolu_2", "b"), result("toolu_1", "a")])
    composed = compose(request, context, [], stateless=False)
    ids = [m.parts[0].tool_result.call_id for m in composed.request.messages[-2:]]
    assert ids == ["toolu_2", "toolu_1"]
