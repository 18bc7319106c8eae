"""A key's limits, budget and allowed models hold on the public gRPC API as on HTTP, and its
Generate calls leave usage records (surface `rhone.grpc`): one stack on PostgreSQL and the real
Redis, called with the rhone.api.v1 stubs as an internal team would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import grpc
import httpx
import openai
import pytest

from rhone.api.v1 import gateway_pb2 as gw
from rhone.api.v1 import gateway_pb2_grpc as gw_grpc
from rhone.launcher import Cluster, Ports
from tests.integration.grpc_support import bearer, rich_error, user
from tests.integration.tenancy_support import (
    ALIASES,
    admin,
    new_key,
    new_tenant,
    tenancy_env,
    total_calls,
    usage_of,
    usage_records,
    wait_for,
)
from tests.store.conftest import postgres_url

TIMEOUT = 30


@pytest.fixture(scope="module")
async def database_url() -> str:
    return await postgres_url()


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("grpc-limits")
    logs = Path(os.environ.get("RHONE_TEST_LOGS", root / "logs"))
    cluster = Cluster(
        Ports.free(),
        env=tenancy_env(root, database_url, RHONE_LOCAL_TOKEN_DELAY_MS="30"),
        log_dir=logs / "grpc-limits",
    )
    try:
        cluster.start()
        cluster.wait_ready(60)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def gateway(stack: Cluster) -> Iterator[gw_grpc.GatewayStub]:
    with grpc.insecure_channel(f"127.0.0.1:{stack.ports.grpc}") as channel:
        yield gw_grpc.GatewayStub(channel)


def request(model: str = "local", text: str = "hi") -> gw.GenerateRequest:
    return gw.GenerateRequest(model=model, messages=[user(text)], stateless=True)


def generate(
    gateway: gw_grpc.GatewayStub, key: str, model: str = "local"
) -> tuple[dict[str, str], list[gw.GenerateResponse]]:
    """An answered call: its initial metadata and its messages."""
    call: Any = gateway.Generate(request(model), metadata=bearer(key), timeout=TIMEOUT)
    messages = list(call)
    return dict(call.initial_metadata()), messages


def refusal(gateway: gw_grpc.GatewayStub, key: str, model: str = "local") -> grpc.RpcError:
    """A refused call's error; it must have sent no message."""
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for message in gateway.Generate(request(model), metadata=bearer(key), timeout=TIMEOUT):
            received.append(message)
    assert received == []
    return caught.value


def trailers(error: grpc.RpcError) -> dict[str, Any]:
    return dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]


def used(messages: list[gw.GenerateResponse]) -> tuple[int, int]:
    [usage] = [m.event.usage for m in messages if m.event.HasField("usage")]
    return usage.input_tokens, usage.output_tokens


def test_n_requests_per_minute_pass_then_the_next_is_resource_exhausted(
    stack: Cluster, gateway: gw_grpc.GatewayStub
) -> None:
    key = new_key(stack, new_tenant(stack), limits={"requests_per_minute": 3})["secret"]
    remaining = []
    for _ in range(3):
        metadata, messages = generate(gateway, key)
        assert messages[-1].HasField("turn")
        assert metadata["x-ratelimit-limit-requests"] == "3"
        remaining.append(metadata["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]

    error = refusal(gateway, key)
    rich = rich_error(error)
    assert rich.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (rich.reason, rich.domain) == ("RATE_LIMIT_EXCEEDED", "rhone.dev")
    assert "3 requests per minute" in rich.message
    assert rich.retry_delay_s is not None and 0 < rich.retry_delay_s <= 20
    metadata = trailers(error)
    assert int(metadata["retry-after"]) >= rich.retry_delay_s
    assert int(metadata["retry-after-ms"]) == round(rich.retry_delay_s * 1000)
    assert metadata["x-rhone-error-code"] == "rate_limit_exceeded"
    assert metadata["x-ratelimit-remaining-requests"] == "0"

    # One limit for the key, whichever surface it calls.
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="local", messages=[{"role": "user", "content": "hi"}], max_tokens=1
        )
    wait_for(lambda: total_calls(stack, key) == 5, 10.0)
    [total] = usage_of(stack, key)["data"]
    assert (total["calls"], total["failed_calls"]) == (5, 2)


def test_a_model_outside_the_keys_list_is_not_found_as_over_http(
    stack: Cluster, gateway: gw_grpc.GatewayStub
) -> None:
    key = new_key(stack, new_tenant(stack), models=["gpt-4*"])["secret"]
    rich = rich_error(refusal(gateway, key, model="local"))
    assert rich.code == grpc.StatusCode.NOT_FOUND
    assert (rich.reason, rich.metadata) == ("MODEL_NOT_FOUND", {"param": "model"})
    assert rich.retry_delay_s is None
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as over_http:
        client.chat.completions.create(model="local", messages=[{"role": "user", "content": "x"}])
    assert over_http.value.code == "model_not_found"
    assert rich.message in over_http.value.message

    # Token counting is not held to the list on either API (docs/tenants.md).
    counted = gateway.CountTokens(
        gw.CountTokensRequest(model="local", messages=[user("count me")]), metadata=bearer(key)
    )
    claude = anthropic.Anthropic(base_url=stack.base_url, api_key=key, max_retries=0)
    http_count = claude.messages.count_tokens(
        model="local", messages=[{"role": "user", "content": "count me"}]
    )
    assert counted.input_tokens == http_count.input_tokens > 0


def test_list_models_shows_only_what_the_key_and_its_tenant_allow(
    stack: Cluster, gateway: gw_grpc.GatewayStub
) -> None:
    tenant = new_tenant(stack, models=["local", "team-*"])
    key = new_key(stack, tenant, models=["team-*", "local"])["secret"]
    narrower = new_key(stack, tenant, models=["team-f*"])["secret"]

    def listed(key: str) -> list[str]:
        return [
            m.id for m in gateway.ListModels(gw.ListModelsRequest(), metadata=bearer(key)).models
        ]

    assert listed(key) == ["local", *ALIASES]
    assert listed(narrower) == ["team-fast"]
    # What the key lists is what it may call: the rest is NOT_FOUND, as an unknown model.
    assert generate(gateway, narrower, model="team-fast")[1][-1].HasField("turn")
    assert rich_error(refusal(gateway, narrower, model="local")).reason == "MODEL_NOT_FOUND"


def test_a_spent_budget_refuses_generate_naming_the_budget(
    stack: Cluster, gateway: gw_grpc.GatewayStub
) -> None:
    key = new_key(stack, new_tenant(stack), monthly_budget_usd=0.01)["secret"]
    inputs, outputs = used(generate(gateway, key)[1])
    assert (inputs * 1000 + outputs * 2000) / 1e6 > 0.01  # the local model's price

    refused: list[grpc.RpcError] = []

    def is_refused() -> bool:
        try:
            generate(gateway, key)
        except grpc.RpcError as exc:
            refused.append(exc)
            return True
        return False

    wait_for(is_refused, 5.0)
    rich = rich_error(refused[0])
    assert rich.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert rich.reason == "INSUFFICIENT_QUOTA"
    assert "monthly budget" in rich.message and "$0.01" in rich.message
    assert rich.retry_delay_s is None
    metadata = trailers(refused[0])
    assert metadata["x-should-retry"] == "false" and "retry-after" not in metadata


def test_usage_counts_every_generate_with_its_tokens_failed_and_cancelled_ones_too(
    stack: Cluster, gateway: gw_grpc.GatewayStub
) -> None:
    tenant = new_tenant(stack)
    key = new_key(stack, tenant, limits={"concurrent_requests": 1})["secret"]
    answered = [used(generate(gateway, key)[1]) for _ in range(2)]
    with pytest.raises(grpc.RpcError) as unknown:  # fails once its stream began
        list(gateway.Generate(request("no-such-model"), metadata=bearer(key), timeout=TIMEOUT))
    assert rich_error(unknown.value).reason == "MODEL_NOT_FOUND"

    # A client that cancels mid-stream: its call is recorded, and its slot comes back.
    call: Any = gateway.Generate(
        request(text="tell me a long story " * 5), metadata=bearer(key), timeout=TIMEOUT
    )
    first = [next(call) for _ in range(3)]
    assert first[0].HasField("session") and first[2].event.HasField("part_started")
    call.cancel()
    refusals = []

    def admitted() -> bool:
        try:
            answered.append(used(generate(gateway, key)[1]))
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
            refusals.append(exc)
            return False
        return True

    wait_for(admitted, 5.0)

    calls = len(answered) + 2 + len(refusals)
    wait_for(lambda: total_calls(stack, key) == calls, 10.0)
    [total] = usage_of(stack, key)["data"]
    # Failed: the unknown model, the cancelled call, any refusal while its slot was held.
    assert total["failed_calls"] == 2 + len(refusals)
    inputs, outputs = sum(i for i, _ in answered), sum(o for _, o in answered)
    assert (total["input_tokens"], total["output_tokens"]) == (inputs, outputs)
    assert total["cost_usd"] == pytest.approx((inputs * 1000 + outputs * 2000) / 1e6)
    by_surface = usage_of(stack, key, group_by="surface")["data"]
    assert [(row["group"], row["calls"]) for row in by_surface] == [("rhone.grpc", calls)]
    by_model = {row["group"]: row for row in usage_of(stack, key, group_by="model")["data"]}
    unknown_row = by_model["no-such-model"]
    assert (unknown_row["calls"], unknown_row["failed_calls"]) == (1, 1)
    with admin(stack) as client:
        rows = client.get("/usage", params={"tenant": tenant, "group_by": "surface"}).json()
    assert [(row["group"], row["calls"]) for row in rows["data"]] == [("rhone.grpc", calls)]


def test_a_first_generate_that_fails_or_is_cancelled_names_no_session_in_its_record(
    stack: Cluster, gateway: gw_grpc.GatewayStub, database_url: str
) -> None:
    created = new_key(stack, new_tenant(stack))
    key = created["secret"]
    _, answered = generate(gateway, key)
    session = answered[0].session.session_id

    received: list[gw.GenerateResponse] = []
    with pytest.raises(grpc.RpcError):  # fails once its stream began: its session announced
        for message in gateway.Generate(
            request("no-such-model"), metadata=bearer(key), timeout=TIMEOUT
        ):
            received.append(message)
    failed = received[0].session.session_id
    call: Any = gateway.Generate(
        request(text="tell me a long story " * 5), metadata=bearer(key), timeout=TIMEOUT
    )
    cancelled = next(call).session.session_id
    next(call)
    call.cancel()
    # A call that names a session names it, however it ends.
    with pytest.raises(grpc.RpcError):
        list(
            gateway.Generate(
                gw.GenerateRequest(model="no-such-model", messages=[user("x")], session_id=session),
                metadata=bearer(key),
                timeout=TIMEOUT,
            )
        )

    wait_for(lambda: len(usage_records(database_url, created["id"])) == 4, 10.0)
    records = usage_records(database_url, created["id"])
    assert sorted((r["session_id"], r["error_code"]) for r in records) == sorted(
        [(session, ""), ("", "model_not_found"), ("", "cancelled"), (session, "model_not_found")]
    )
    assert {r["surface"] for r in records} == {"rhone.grpc"}
    assert session and failed and cancelled
    assert session_status(stack, key, session) == 200
    assert session_status(stack, key, failed) == session_status(stack, key, cancelled) == 404


def session_status(stack: Cluster, key: str, session_id: str) -> int:
    return httpx.get(
        f"{stack.base_url}/v1/sessions/{session_id}",
        headers={"authorization": f"Bearer {key}"},
        timeout=10,
    ).status_code
