"""The pure rules of tenancy: prices, rate-limit headers, admin bodies, the CLI's requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhone.admin_cli import parser, request_for, usage_table
from rhone.errors import RhoneError
from rhone.pricing import PriceTable, PriceTableError, parse_prices
from rhone.tenancy import limits_from_dict, limits_to_dict, model_allowed
from rhone.v1 import generation_pb2 as gen
from services.facade import admin_requests as parse
from services.facade.limit_checks import Check, LimitState
from services.facade.metering import GRPC_SURFACE, SURFACE_NAMES
from services.facade.ratelimit_headers import go_duration, rate_limit_headers, retry_headers


@pytest.mark.parametrize(
    ("ms", "text"),
    [(12, "12ms"), (1000, "1s"), (1500, "1.5s"), (360_000, "6m0s"), (3_723_000, "1h2m3s")],
)
def test_resets_read_like_openais_durations(ms: int, text: str) -> None:
    assert go_duration(ms) == text


def state(scope: str, metric: str, limit: int, remaining: int, reset_ms: int) -> LimitState:
    return LimitState(Check(scope, metric, f"k:{scope}", limit), remaining, reset_ms)


def test_each_surface_gets_the_headers_its_sdk_reads_from_the_tightest_limit() -> None:
    states = [
        state("key", "requests", 60, 10, 1000),
        state("tenant", "requests", 100, 3, 2000),
        state("key", "tokens", 1000, 900, 6000),
    ]
    openai = rate_limit_headers("openai.chat", states)
    assert openai == {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "2s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "6s",
    }
    anthropic = rate_limit_headers("anthropic.messages", states)
    assert anthropic["anthropic-ratelimit-requests-remaining"] == "3"
    assert anthropic["anthropic-ratelimit-tokens-reset"].endswith("Z")
    assert rate_limit_headers("gemini", states) == {}
    # gRPC callers read OpenAI's names from the metadata.
    assert rate_limit_headers(GRPC_SURFACE, states) == openai
    assert retry_headers(1200) == {"retry-after": "2", "retry-after-ms": "1200"}


def test_prices_by_exact_name_then_family_with_overrides() -> None:
    table = PriceTable(parse_prices({"my-model": {"input": 1, "output": 2}}))
    usage = gen.Usage(input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=1_000_000)
    assert table.cost("my-model", usage) == pytest.approx(1 * 1 + 2)
    sonnet = table.price_of("anthropic/claude-sonnet-4-5-20250929")
    assert sonnet is not None and sonnet.input == 3.0
    assert table.price_of("gpt-4o-mini-2024-07-18") == table.price_of("gpt-4o-mini")
    assert table.cost("gpt-4.1", usage) == pytest.approx(0.5 * 2 + 0.5 * 0.5 + 8)
    assert table.cost("unknown-model", usage) == 0.0
    with pytest.raises(PriceTableError, match=r"prices\.x"):
        parse_prices({"x": {"input": -1, "output": 1}})


def test_limits_and_allow_lists() -> None:
    assert limits_to_dict(limits_from_dict({"requests_per_minute": 5})) == {
        "requests_per_minute": 5
    }
    with pytest.raises(RhoneError, match="rpm"):
        limits_from_dict({"rpm": 5})
    with pytest.raises(RhoneError):
        limits_from_dict({"requests_per_minute": -1})
    assert model_allowed("gpt-4.1", ["gpt-4*"]) and not model_allowed("o3", ["gpt-4*"])
    assert model_allowed("anything", [])


def test_admin_bodies_name_the_field_that_is_wrong() -> None:
    with pytest.raises(RhoneError) as unknown:
        parse.create_key("acme", {"colour": "red"})
    assert unknown.value.failure.param == "colour"
    update = parse.update_key("key_1", {"monthly_budget_usd": None, "models": ["a"]})
    assert update.clear_monthly_budget and list(update.models.values) == ["a"]
    assert not update.HasField("limits")
    assert parse.time_param("2026-01-01", "start") == 1_767_225_600_000
    assert parse.time_param("1767225600", "start") == 1_767_225_600_000
    with pytest.raises(RhoneError):
        parse.time_param("yesterday", "start")


def test_the_cli_means_the_admin_api_calls_it_documents() -> None:
    args = parser().parse_args(["keys", "create", "--tenant", "acme", "--rpm", "60"])
    assert request_for(args) == (
        "POST",
        "/tenants/acme/keys",
        {},
        {"limits": {"requests_per_minute": 60}},
    )
    args = parser().parse_args(["usage", "--tenant", "acme", "--by", "model"])
    assert request_for(args) == ("GET", "/usage", {"tenant": "acme", "group_by": "model"}, None)
    args = parser().parse_args(["keys", "revoke", "key_1"])
    assert request_for(args)[:2] == ("DELETE", "/keys/key_1")
    table = usage_table({"data": [{"group": "local", "calls": 2, "failed_calls": 0}]})
    assert table.splitlines()[1].split()[:2] == ["local", "2"]


def test_the_tenants_doc_names_every_surface_a_usage_record_can_name() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "tenants.md").read_text()
    for surface in (*SURFACE_NAMES.values(), GRPC_SURFACE):
        assert f"`{surface}`" in doc, surface
