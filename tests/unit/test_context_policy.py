"""Context policies, pure: truncation never parts a tool call from its result and keeps the
newest turns (a hypothesis property), budgets, and the model limits the routing config gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rhone.context_policy import ContextPolicy, parse_policy
from rhone.errors import RhoneError
from rhone.v1 import content_pb2 as content
from services.providers.config import ProvidersSettings
from services.providers.model_limits import FALLBACK, ModelLimits, known_limits
from services.providers.routing import Router
from services.providers.routing_config import RoutingConfigError, parse_routing_config
from services.translator.context_policy import cut_points, first_fitting_cut, input_budget


def text(role: int, value: str) -> content.Message:
    return content.Message(role=role, parts=[content.Part(text=content.TextPart(text=value))])  # type: ignore[arg-type]


def call(call_id: str) -> content.Part:
    return content.Part(tool_call=content.ToolCallPart(id=call_id, name="f", arguments="{}"))


def result(call_id: str) -> content.Message:
    return content.Message(
        role=content.ROLE_TOOL,
        parts=[content.Part(tool_result=content.ToolResultPart(call_id=call_id, name="f"))],
    )


@st.composite
def conversations(draw: st.DrawFn) -> list[content.Message]:
    """Turns of a session: a user message, then assistant answers, some with tool calls whose
    results come in later messages (possibly after further user messages: parallel or late)."""
    messages: list[content.Message] = []
    pending: list[str] = []
    for turn in range(draw(st.integers(0, 12))):
        messages.append(text(content.ROLE_USER, f"u{turn}"))
        for step in range(draw(st.integers(0, 3))):
            calls = [f"c{turn}-{step}-{i}" for i in range(draw(st.integers(0, 2)))]
            parts = [content.Part(text=content.TextPart(text="a"))] + [call(c) for c in calls]
            messages.append(content.Message(role=content.ROLE_ASSISTANT, parts=parts))
            pending.extend(calls)
            answered = draw(st.integers(0, len(pending)))
            for call_id in pending[:answered]:
                messages.append(result(call_id))
            del pending[:answered]
    for call_id in pending:
        messages.append(result(call_id))
    return messages


@settings(max_examples=300, deadline=None)
@given(conversations(), st.integers(0, 40))
def test_truncation_never_parts_a_call_from_its_result(
    messages: list[content.Message], budget: int
):
    sizes = [1] * len(messages)
    cut = first_fitting_cut(messages, lambda c: sum(sizes[c:]) <= budget)
    assert cut is not None  # leaving everything out always fits a budget >= 0
    kept = messages[cut:]
    calls = {p.tool_call.id for m in kept for p in m.parts if p.HasField("tool_call")}
    results = {p.tool_result.call_id for m in kept for p in m.parts if p.HasField("tool_result")}
    all_results = {
        p.tool_result.call_id for m in messages for p in m.parts if p.HasField("tool_result")
    }
    assert results <= calls  # no result without its call
    assert calls & all_results <= results  # no kept call loses its result
    assert sum(sizes[cut:]) <= budget
    if kept:
        assert kept[0].role == content.ROLE_USER
    # As much as fits: no later valid cut was needed.
    assert all(c >= cut or sum(sizes[c:]) > budget for c in cut_points(messages))


def test_cut_points_skip_an_open_tool_exchange():
    messages = [
        text(content.ROLE_USER, "u1"),
        content.Message(role=content.ROLE_ASSISTANT, parts=[call("x")]),
        text(content.ROLE_USER, "late user message"),
        result("x"),
        text(content.ROLE_USER, "u2"),
    ]
    assert cut_points(messages) == [0, 4, 5]


def test_input_budget_keeps_room_for_the_answer():
    assert input_budget(1000, 4096, 0, 0) == 750
    assert input_budget(1000, 100, 0, 0) == 900
    assert input_budget(1000, 400, 300, 0) == 700
    # A max_tokens above what the model can write reserves only what it can write.
    assert input_budget(1000, 100, 300, 0) == 900
    assert input_budget(32768, 4096, 100_000, 0) == 32768 - 4096
    assert input_budget(1000, 100, 0, 500) == 500


def test_policy_parsing_names_the_bad_field():
    assert parse_policy({"strategy": "error"}) == ContextPolicy("error", 0)
    assert ContextPolicy(max_input_tokens=5).over(ContextPolicy("truncate", 9)) == ContextPolicy(
        "truncate", 5
    )
    for bad, param in (
        ({"strategy": "drop"}, "rhone.context.strategy"),
        ({"max_input_tokens": True}, "rhone.context.max_input_tokens"),
        ({"other": 1}, "rhone.context.other"),
        ("auto", "rhone.context"),
    ):
        with pytest.raises(RhoneError) as failed:
            parse_policy(bad)
        assert failed.value.failure.param == param


def test_limits_from_defaults_config_and_local_setting():
    config = parse_routing_config(
        {
            "models": {
                "pair": ["anthropic/claude-sonnet-4-5", "openai/gpt-4o"],
                "small": [{"provider": "openai", "model": "gpt-4.1", "context_window": 5000}],
                "named": "local",
            },
            "limits": {"named": {"context_window": 77}, "gpt-4o": {"max_output_tokens": 1000}},
        }
    )
    settings = ProvidersSettings(OPENAI_API_KEY="k", ANTHROPIC_API_KEY="k")  # type: ignore[call-arg]
    limits = ModelLimits(Router(settings, config), local_context_window=300)
    assert limits.of("local")[0].context_window == 300
    assert limits.of("named")[0].context_window == 77
    assert limits.of("small")[0].context_window == 5000
    pair, provider = limits.of("pair")
    assert provider == "anthropic"
    assert (pair.context_window, pair.max_output_tokens) == (128_000, 1000)
    assert known_limits("gpt-4.1-mini").context_window == 1_047_576
    assert known_limits("some-model") == FALLBACK
    with pytest.raises(RoutingConfigError, match="context_window"):
        parse_routing_config({"limits": {"x": {"context_window": 0}}})


def test_the_estimate_learns_each_models_tokens_from_what_providers_counted():
    from services.translator.context_size import Calibration

    calibration = Calibration()
    assert calibration.scale("m", 100) == 101  # uncalibrated: the raw estimate
    calibration.observe("m", 100, 200)
    assert calibration.scale("m", 100) == 201
    calibration.observe("m", 100, 100)  # smoothed toward the newer ratio
    assert calibration.scale("m", 100) == 151
    calibration.observe("m", 100, 0)  # no count reported: nothing learned
    assert calibration.scale("m", 100) == 151
    assert calibration.scale("other", 100) == 101


def test_providers_length_refusals_are_recognised_and_measured():
    import orjson

    from rhone.dialects.anthropic_messages import DIALECT
    from services.translator.context_size import Calibration, refused_size

    body = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 213462 tokens > 200000 maximum",
        },
    }
    failure = DIALECT.decode_error(400, orjson.dumps(body))
    assert failure.detail == "context_length_exceeded"
    assert refused_size(failure.message) == 213462
    openai_message = (
        "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9001 tokens. Please reduce the length of the messages."
    )
    assert refused_size(openai_message) == 9001
    assert refused_size("something else") == 0
    calibration = Calibration()
    calibration.distrust("m", 1000, openai_message)  # 9001 counted where 1000 was estimated
    assert calibration.scale("m", 1000) > 9001
    calibration.distrust("n")  # no numbers: half again
    assert calibration.scale("n", 100) == 151
