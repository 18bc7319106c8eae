"""Tenants as a product, end to end: the admin API over HTTP and gRPC, keys that work, stop
working and rotate, on two facade replicas sharing one sessions service (PostgreSQL) and one
Redis. Clients are the official SDKs where a surface is involved."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import grpc
import httpx
import openai
import pytest
import redis
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from rhone.launcher import Cluster, Ports, free_port
from rhone.v1 import admin_pb2 as apb
from rhone.v1 import admin_pb2_grpc
from rhone.ws_client import RhoneWsClient, RhoneWsError
from tests.integration.conftest import API_KEY
from tests.integration.tenancy_support import (
    ADMIN_KEY,
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

FULL = ("sessions", "providers", "translator", "facade")


@pytest.fixture(scope="module")
async def database_url() -> str:
    return await postgres_url()


@pytest.fixture(scope="module")
def replicas(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, Cluster]]:
    """Replica A runs every service; replica B is a second facade on A's peers."""
    root = tmp_path_factory.mktemp("tenancy")
    logs = Path(os.environ.get("RHONE_TEST_LOGS", root / "logs"))
    env = tenancy_env(root, database_url)
    a = Cluster(Ports.free(), env=env, log_dir=logs / "a", only=FULL)
    b = Cluster(
        Ports(free_port(), a.ports.translator, a.ports.sessions, a.ports.providers),
        env=env,
        log_dir=logs / "b",
        only=("facade",),
    )
    try:
        a.start()
        a.wait_ready(60)
        b.start()
        b.wait_ready(60)
        yield a, b
    finally:
        b.stop()
        a.stop()


def chat(cluster: Cluster, key: str, **kwargs: Any) -> Any:
    client = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=key, max_retries=0)
    return client.chat.completions.create(
        model=kwargs.pop("model", "local"),
        messages=[{"role": "user", "content": "hello"}],
        extra_body={"rhone": {"context_mode": "stateless"}},
        max_tokens=kwargs.pop("max_tokens", 1),
        **kwargs,
    )


def fails_auth(cluster: Cluster, key: str) -> bool:
    try:
        chat(cluster, key)
    except openai.AuthenticationError:
        return True
    return False


def test_admin_api_manages_tenants_and_keys_and_never_shows_a_secret_twice(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, _ = replicas
    tenant = new_tenant(a, metadata={"plan": "pro"}, limits={"requests_per_minute": 100})
    key = new_key(a, tenant, name="ci", models=["local*"])
    assert key["secret"].startswith("rhone_sk_") and key["secret"].startswith(key["prefix"])
    assert chat(a, key["secret"]).choices[0].message.content
    with admin(a) as client:
        listed = client.get(f"/tenants/{tenant}/keys").json()["data"]
        assert [k["id"] for k in listed] == [key["id"]]
        assert "secret" not in listed[0] and "secret" not in client.get(f"/keys/{key['id']}").json()
        patched = client.patch(f"/keys/{key['id']}", json={"limits": {"concurrent_requests": 3}})
        assert patched.json()["limits"] == {"concurrent_requests": 3}
        assert patched.json()["models"] == ["local*"]
        got = client.get(f"/tenants/{tenant}").json()
        assert got["metadata"] == {"plan": "pro"} and got["limits"] == {"requests_per_minute": 100}
        assert client.post("/tenants", json={"id": tenant}).status_code == 409
        bad = client.post("/tenants", json={"id": "x", "limits": {"rpm": 1}})
        assert bad.status_code == 400 and "rpm" in bad.json()["error"]["message"]
        assert client.get("/keys/key_nope").status_code == 404
        assert client.post(f"/tenants/{tenant}:nope").status_code in (404, 405)


def test_a_tenant_key_on_an_admin_route_is_403_and_no_key_is_401(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, _ = replicas
    with admin(a, API_KEY) as client:
        reply = client.get("/tenants")
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "admin_key_required"
    with admin(a, "rk-not-a-key") as client:
        assert client.get("/tenants").status_code == 401
    odd = httpx.get(
        a.base_url + "/v1/admin/tenants",
        headers={"authorization": "Bearer k\u00e9y".encode(), "x-rhone-actor": "\u00e9".encode()},
    )
    assert odd.status_code == 401


def test_a_revoked_key_fails_on_the_other_replica_within_a_second(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant)["secret"]
    assert chat(b, key).choices  # B has the key cached now
    with admin(a) as client:
        key_id = client.get(f"/tenants/{tenant}/keys").json()["data"][0]["id"]
        assert client.delete(f"/keys/{key_id}").json()["revoked_at"]
    took = wait_for(lambda: fails_auth(b, key), 3.0)
    assert took < 1.0, took
    assert fails_auth(a, key)


def test_an_expired_key_fails(replicas: tuple[Cluster, Cluster]) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, expires_at=time.time() + 1.5)["secret"]
    assert chat(b, key).choices
    wait_for(lambda: fails_auth(b, key), 5.0)
    assert fails_auth(a, key)


def test_a_rotated_keys_old_secret_stops_after_the_grace_period(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    created = new_key(a, tenant)
    with admin(a) as client:
        rotated = client.post(f"/keys/{created['id']}:rotate", json={"grace_s": 3}).json()
    rotated_at = time.monotonic()
    assert rotated["id"] == created["id"] and rotated["secret"] != created["secret"]
    assert chat(b, created["secret"]).choices and chat(b, rotated["secret"]).choices
    wait_for(lambda: fails_auth(b, created["secret"]), 8.0)
    assert 2.5 <= time.monotonic() - rotated_at <= 5.0
    assert chat(b, rotated["secret"]).choices


def test_deleting_a_tenant_revokes_its_keys_and_every_action_is_audited(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant)
    assert chat(b, key["secret"]).choices
    with admin(a) as client:
        assert client.delete(f"/tenants/{tenant}").status_code == 200
        wait_for(lambda: fails_auth(b, key["secret"]), 2.0)
        assert client.get(f"/tenants/{tenant}").status_code == 404
        entries = client.get("/audit", params={"tenant": tenant}).json()["data"]
    actions = [e["action"] for e in entries]
    assert actions == ["key.revoke", "tenant.delete", "key.create", "tenant.create"]
    assert {e["actor"] for e in entries} == {"admin:pytest"}
    assert entries[0]["before"]["revoked_at"] is None and entries[0]["after"]["revoked_at"]
    assert all("secret" not in (e["after"] or {}) for e in entries)


def test_the_admin_api_on_grpc_is_the_same_api(replicas: tuple[Cluster, Cluster]) -> None:
    a, _ = replicas
    tenant = "g-" + secrets.token_hex(4)

    async def run() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{a.ports.sessions}") as channel:
            stub = admin_pb2_grpc.AdminServiceStub(channel)
            # AdminService sits on the sessions service, an internal port: the operator's
            # tooling carries the deployment's service identity as well as the admin key.
            auth = [*a.service_metadata(), ("authorization", f"Bearer {ADMIN_KEY}")]
            await stub.CreateTenant(apb.CreateTenantRequest(id=tenant), metadata=auth)
            key = await stub.CreateKey(apb.CreateKeyRequest(tenant_id=tenant), metadata=auth)
            assert key.secret.startswith("rhone_sk_")
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await stub.ListTenants(
                    apb.ListTenantsRequest(),
                    metadata=[*a.service_metadata(), ("authorization", f"Bearer {API_KEY}")],
                )
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

    asyncio.run(run())
    with admin(a) as client:
        [key] = client.get(f"/tenants/{tenant}/keys").json()["data"]
    assert key["source"] == "admin"


# limits


def oai(cluster: Cluster, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=cluster.base_url + "/v1", api_key=key, max_retries=0)


def ant(cluster: Cluster, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=cluster.base_url, api_key=key, max_retries=0)


QUICK = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


def openai_call(cluster: Cluster, key: str) -> Any:
    return oai(cluster, key).chat.completions.with_raw_response.create(model="local", **QUICK)


def anthropic_call(cluster: Cluster, key: str) -> Any:
    return ant(cluster, key).messages.with_raw_response.create(model="local", **QUICK)


def test_two_replicas_share_one_requests_per_minute_limit_exactly(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"requests_per_minute": 4})["secret"]
    remaining = [
        openai_call(a, key).headers["x-ratelimit-remaining-requests"],
        anthropic_call(b, key).headers["anthropic-ratelimit-requests-remaining"],
        openai_call(b, key).headers["x-ratelimit-remaining-requests"],
        anthropic_call(a, key).headers["anthropic-ratelimit-requests-remaining"],
    ]
    assert remaining == ["3", "2", "1", "0"]

    with pytest.raises(openai.RateLimitError) as limited:
        openai_call(b, key)
    headers = limited.value.response.headers
    assert limited.value.code == "rate_limit_exceeded"
    assert headers["x-ratelimit-limit-requests"] == "4"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"].endswith("s")
    assert 1 <= int(headers["retry-after"]) <= 15

    with pytest.raises(anthropic.RateLimitError) as refused:
        anthropic_call(a, key)
    headers = refused.value.response.headers
    assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert headers["anthropic-ratelimit-requests-limit"] == "4"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert 1 <= int(headers["retry-after"]) <= 15


def test_a_tenant_limit_holds_across_its_keys(replicas: tuple[Cluster, Cluster]) -> None:
    a, b = replicas
    tenant = new_tenant(a, limits={"requests_per_minute": 2})
    first, second = new_key(a, tenant)["secret"], new_key(a, tenant)["secret"]
    openai_call(a, first)
    openai_call(b, second)
    with pytest.raises(openai.RateLimitError) as limited:
        openai_call(a, second)
    assert "tenant" in limited.value.message


def test_concurrency_limit_holds_under_50_parallel_calls(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"concurrent_requests": 5})["secret"]
    barrier = threading.Barrier(50)

    def one(i: int) -> str:
        client = oai(a if i % 2 else b, key)
        barrier.wait()
        try:
            client.chat.completions.create(
                model="local", messages=[{"role": "user", "content": "tell me a story"}]
            )
        except openai.RateLimitError:
            return "limited"
        return "ok"

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(one, range(50)))
    assert outcomes.count("ok") == 5, outcomes
    assert outcomes.count("limited") == 45
    # Every slot was given back.
    results = []
    for cluster in (a, b, a, b, a):
        results.append(openai_call(cluster, key).status_code)
    assert results == [200] * 5


def test_a_model_outside_the_keys_allow_list_is_model_not_found(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, _ = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, models=["gpt-4*"])["secret"]
    with pytest.raises(openai.NotFoundError) as missing:
        openai_call(a, key)
    assert missing.value.code == "model_not_found"
    with pytest.raises(anthropic.NotFoundError):
        anthropic_call(a, key)


def test_a_key_lists_and_gets_only_the_models_its_and_its_tenants_lists_allow(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    # The key allows every alias, its tenant one of them: the key may call local and
    # team-fast. A key of no list sees every model.
    tenant = new_tenant(a, models=["local", "team-fast"])
    key = new_key(a, tenant, models=["local*", "team-*"])["secret"]
    everything = new_key(a, new_tenant(a))["secret"]
    assert {"local", *ALIASES} <= {m.id for m in oai(a, everything).models.list()}

    allowed = ["local", "team-fast"]
    assert sorted(m.id for m in oai(a, key).models.list()) == allowed
    assert sorted(m.id for m in ant(b, key).models.list()) == allowed
    gemini = genai.Client(api_key=key, http_options=genai_types.HttpOptions(base_url=b.base_url))
    assert sorted(m.name or "" for m in gemini.models.list()) == [f"models/{m}" for m in allowed]
    vertex = httpx.get(
        a.base_url + "/v1/publishers/google/models", headers={"x-goog-api-key": key}
    ).json()
    assert [m["baseModelId"] for m in vertex["publisherModels"]] == allowed

    # One it may not call answers as an unknown model, as a call naming it does.
    assert oai(a, key).models.retrieve("team-fast").id == "team-fast"
    with pytest.raises(openai.NotFoundError) as hidden:
        oai(a, key).models.retrieve("team-smart")
    with pytest.raises(openai.NotFoundError) as unknown:
        oai(a, key).models.retrieve("no-such-model")
    with pytest.raises(openai.NotFoundError) as called:
        oai(a, key).chat.completions.create(model="team-smart", **QUICK)
    assert hidden.value.code == unknown.value.code == called.value.code == "model_not_found"
    assert hidden.value.message == called.value.message
    assert hidden.value.message == unknown.value.message.replace("no-such-model", "team-smart")
    with pytest.raises(anthropic.NotFoundError) as claude:
        ant(b, key).models.retrieve("team-smart")
    assert claude.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert gemini.models.get(model="local").name == "models/local"
    with pytest.raises(genai_errors.ClientError) as google:
        gemini.models.get(model="team-smart")
    assert (google.value.code, google.value.status) == (404, "NOT_FOUND")
    assert oai(a, everything).models.retrieve("team-smart").id == "team-smart"


def test_a_spent_budget_refuses_calls_and_names_the_budget(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, monthly_budget_usd=0.01)["secret"]
    assert openai_call(a, key).status_code == 200  # costs more than $0.01 at the test's price

    def refused() -> bool:
        try:
            openai_call(b, key)
        except openai.RateLimitError as exc:
            assert exc.code == "insufficient_quota"
            assert "monthly budget" in exc.message and "$0.01" in exc.message
            assert exc.response.headers["x-should-retry"] == "false"
            return True
        return False

    wait_for(refused, 5.0)


def dead_redis_facade(a: Cluster, name: str, fail_open: bool) -> Cluster:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    facade = Cluster(
        Ports(free_port(), a.ports.translator, a.ports.sessions, a.ports.providers),
        env={
            **a.env,
            "RHONE_REDIS_URL": dead,
            "RHONE_LIMITS_FAIL_OPEN": "true" if fail_open else "false",
        },
        log_dir=(a.log_dir or Path(".")) / name,
        only=("facade",),
    )
    facade.start()
    facade.wait_ready(60)
    return facade


@pytest.mark.parametrize("fail_open", [True, False])
def test_redis_down_fails_open_or_closed_as_configured_and_never_hangs(
    replicas: tuple[Cluster, Cluster], fail_open: bool
) -> None:
    a, _ = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"requests_per_minute": 100})["secret"]
    facade = dead_redis_facade(a, f"dead-redis-{fail_open}", fail_open)
    try:
        started = time.monotonic()
        if fail_open:
            assert openai_call(facade, key).status_code == 200
        else:
            with pytest.raises(openai.InternalServerError) as unavailable:
                openai_call(facade, key)
            assert unavailable.value.status_code == 503
            assert unavailable.value.code == "limits_unavailable"
        assert time.monotonic() - started < 3.0
    finally:
        facade.stop()


# usage


def test_usage_totals_equal_the_calls_made_including_failed_and_store_false(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant)["secret"]
    messages = [{"role": "user", "content": "count my tokens"}]
    whole = oai(a, key).chat.completions.create(model="local", messages=messages, max_tokens=3)
    kept_nothing = oai(b, key).responses.create(
        model="local", input="count my tokens", store=False, max_output_tokens=3
    )
    streamed = list(
        oai(a, key).chat.completions.create(
            model="local",
            messages=messages,
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    answered = ant(b, key).messages.create(model="local", max_tokens=3, messages=messages)
    with pytest.raises(openai.NotFoundError):
        oai(a, key).chat.completions.create(model="no-such-model", messages=messages)
    assert whole.usage and kept_nothing.usage and streamed[-1].usage
    inputs = (
        whole.usage.prompt_tokens
        + kept_nothing.usage.input_tokens
        + streamed[-1].usage.prompt_tokens
        + answered.usage.input_tokens
    )
    outputs = (
        whole.usage.completion_tokens
        + kept_nothing.usage.output_tokens
        + streamed[-1].usage.completion_tokens
        + answered.usage.output_tokens
    )

    wait_for(lambda: total_calls(b, key) == 5, 10.0)
    [total] = usage_of(b, key)["data"]
    assert (total["calls"], total["failed_calls"]) == (5, 1)
    assert (total["input_tokens"], total["output_tokens"]) == (inputs, outputs)
    assert total["cost_usd"] == pytest.approx((inputs * 1000 + outputs * 2000) / 1e6)
    by_model = {row["group"]: row for row in usage_of(a, key, group_by="model")["data"]}
    assert by_model["local"]["calls"] == 4 and by_model["no-such-model"]["failed_calls"] == 1
    [day] = usage_of(a, key, group_by="day")["data"]
    assert day["calls"] == 5
    with admin(a) as client:
        by_key = client.get("/usage", params={"tenant": tenant, "group_by": "key"}).json()
    [row] = by_key["data"]
    assert row["calls"] == 5 and row["group"].startswith("key_")
    bad = httpx.get(
        a.base_url + "/v1/usage",
        params={"group_by": "colour"},
        headers={"authorization": f"Bearer {key}"},
    )
    assert bad.status_code == 400


def test_usage_records_are_flushed_on_a_clean_shutdown(replicas: tuple[Cluster, Cluster]) -> None:
    a, _ = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant)["secret"]
    facade = Cluster(
        Ports(free_port(), a.ports.translator, a.ports.sessions, a.ports.providers),
        env={**a.env, "RHONE_USAGE_FLUSH_S": "600"},
        log_dir=(a.log_dir or Path(".")) / "slow-flush",
        only=("facade",),
    )
    facade.start()
    try:
        facade.wait_ready(60)
        openai_call(facade, key)
        assert total_calls(a, key) == 0  # still buffered
    finally:
        facade.stop()
    assert total_calls(a, key) == 1


def test_a_roomy_limit_lends_calls_from_blocks_and_a_clean_shutdown_gives_them_back(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, _ = replicas
    tenant = new_tenant(a)
    limits = {"requests_per_minute": 60_000, "concurrent_requests": 6_400}
    created = new_key(a, tenant, limits=limits)
    slots = f"{a.env['RHONE_LIMITS_PREFIX']}:concurrent:key:{created['id']}"
    facade = Cluster(
        Ports(free_port(), a.ports.translator, a.ports.sessions, a.ports.providers),
        env=a.env,
        log_dir=(a.log_dir or Path(".")) / "blocks",
        only=("facade",),
    )
    store = redis.Redis.from_url(a.env.get("RHONE_REDIS_URL", "redis://127.0.0.1:6379/0"))
    facade.start()
    try:
        facade.wait_ready(60)
        started = time.monotonic()
        # The block is drawn beside the calls, never on their path: calls until the replica
        # holds it (a few on a quick machine), and at least six.
        remaining: list[int] = []
        held = 0
        while len(remaining) < 6 or (held != 64 and len(remaining) < 40):
            reply = openai_call(facade, created["secret"])
            remaining.append(int(reply.headers["x-ratelimit-remaining-requests"]))
            held = store.zcard(slots)
        elapsed_ms = (time.monotonic() - started) * 1000
        # Every call counted, whether Redis or the replica's block admitted it, less what the
        # time since gave back (60,000 a minute: one a millisecond).
        assert all(60_000 - calls <= left for calls, left in enumerate(remaining, start=1))
        assert remaining[-1] <= 60_000 - len(remaining) + elapsed_ms + 1
        # The replica holds a block of 64 slots, none of them in use.
        assert held == 64
    finally:
        facade.stop()
    assert store.zcard(slots) == 0
    assert total_calls(a, created["secret"]) == len(remaining)
    store.close()


# the operators' command line


def rhone_admin(cluster: Cluster, *args: str) -> str:
    script = Path(sys.executable).parent / "rhone-admin"
    done = subprocess.run(
        [str(script), "--url", cluster.base_url, *args],
        env={**os.environ, "RHONE_ADMIN_KEY": ADMIN_KEY},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_operator_runs_a_tenant_from_the_command_line(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = "cli-" + secrets.token_hex(4)
    assert json.loads(rhone_admin(a, "tenants", "create", tenant, "--name", "Acme"))["id"] == tenant
    key = json.loads(rhone_admin(a, "keys", "create", "--tenant", tenant, "--rpm", "1"))
    assert key["limits"] == {"requests_per_minute": 1}
    assert openai_call(a, key["secret"]).status_code == 200
    with pytest.raises(openai.RateLimitError):
        openai_call(b, key["secret"])
    wait_for(lambda: total_calls(a, key["secret"]) == 2, 10.0)
    table = rhone_admin(a, "usage", "--tenant", tenant, "--by", "model")
    header, row = table.splitlines()
    assert header.split()[:3] == ["group", "calls", "failed_calls"]
    assert row.split()[:3] == ["local", "2", "1"]
    revoked = json.loads(rhone_admin(b, "keys", "revoke", key["id"]))
    assert revoked["revoked_at"]
    wait_for(lambda: fails_auth(b, key["secret"]), 2.0)
    audit = json.loads(rhone_admin(a, "audit", "--tenant", tenant))["data"]
    assert [e["action"] for e in audit] == ["key.revoke", "key.create", "tenant.create"]
    assert all(e["actor"].startswith("admin:rhone-admin:") for e in audit)


def test_a_socket_call_over_its_keys_limit_ends_with_call_error_rate_limited(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"requests_per_minute": 2})["secret"]
    body = {"model": "local", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
    canonical = {
        "request": {
            "model": "local",
            "messages": [{"role": "ROLE_USER", "parts": [{"text": {"text": "canon"}}]}],
        }
    }

    async def run() -> tuple[RhoneWsError, RhoneWsError]:
        async with await RhoneWsClient.connect(a.base_url, key) as first:
            assert [e async for e in first.create("openai.chat", body)]
            assert [e async for e in first.create("rhone.canonical", canonical)]
        async with await RhoneWsClient.connect(b.base_url, key) as second:
            with pytest.raises(RhoneWsError) as shaped:
                [e async for e in second.create("openai.chat", body)]
            with pytest.raises(RhoneWsError) as canon:
                [e async for e in second.create("rhone.canonical", canonical)]
        return shaped.value, canon.value

    shaped, canon = asyncio.run(run())
    assert (shaped.code, shaped.status) == ("rate_limited", 429)
    assert (canon.code, canon.status) == ("rate_limited", 429)
    wait_for(lambda: total_calls(a, key) == 4, 10.0)
    by_model = {row["group"]: row for row in usage_of(a, key, group_by="model")["data"]}
    assert by_model["local"]["calls"] == 4 and by_model["local"]["failed_calls"] == 2
    assert by_model["local"]["output_tokens"] > 0


def test_a_first_canonical_call_that_fails_or_is_cancelled_names_no_session_in_its_record(
    replicas: tuple[Cluster, Cluster], database_url: str
) -> None:
    a, _ = replicas
    created = new_key(a, new_tenant(a))
    key = created["secret"]

    def body(model: str = "local", text: str = "canon", session: str = "") -> dict[str, Any]:
        message = {"role": "ROLE_USER", "parts": [{"text": {"text": text}}]}
        return {
            "request": {"model": model, "messages": [message]},
            "continuity": {"session_id": session},
        }

    async def run() -> str:
        # An unbound socket: each call names its session, or none (a first call).
        async with await RhoneWsClient.connect(a.base_url, key) as ws:
            answered = ws.create("rhone.canonical", body())
            assert [e async for e in answered]
            assert answered.session_id
            with pytest.raises(RhoneWsError) as failed:
                await ws.call("rhone.canonical", body(model="no-such-model"))
            assert failed.value.code == "model_not_found"
            stream = ws.create("rhone.canonical", body(text="tell me a long story " * 5))
            events = aiter(stream)
            assert "started" in await anext(events)
            await stream.cancel()
            async for _ in events:  # until call.cancelled
                pass
            with pytest.raises(RhoneWsError):
                await ws.call(
                    "rhone.canonical", body(model="no-such-model", session=answered.session_id)
                )
            return answered.session_id

    session = asyncio.run(run())
    wait_for(lambda: len(usage_records(database_url, created["id"])) == 4, 10.0)
    records = usage_records(database_url, created["id"])
    assert sorted((r["session_id"], r["error_code"]) for r in records) == sorted(
        [(session, ""), ("", "model_not_found"), ("", "cancelled"), (session, "model_not_found")]
    )
    assert {r["surface"] for r in records} == {"rhone.canonical"}
    # The failed and the cancelled first calls left no session behind.
    listed = httpx.get(
        a.base_url + "/v1/sessions", headers={"authorization": f"Bearer {key}"}, timeout=10
    ).json()
    assert [s["id"] for s in listed["data"]] == [session]


def test_the_shared_limit_holds_on_the_responses_and_gemini_surfaces_too(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"requests_per_minute": 2})["secret"]
    gemini = genai.Client(api_key=key, http_options=genai_types.HttpOptions(base_url=b.base_url))
    answered = oai(a, key).responses.with_raw_response.create(
        model="local", input="hi", max_output_tokens=1
    )
    assert answered.headers["x-ratelimit-remaining-requests"] == "1"
    assert gemini.models.generate_content(model="local", contents="hi").text
    with pytest.raises(genai_errors.ClientError) as limited:
        gemini.models.generate_content(model="local", contents="hi")
    assert limited.value.code == 429 and limited.value.status == "RESOURCE_EXHAUSTED"
    with pytest.raises(openai.RateLimitError) as refused:
        oai(a, key).responses.create(model="local", input="hi", max_output_tokens=1)
    assert refused.value.response.headers["x-ratelimit-limit-requests"] == "2"


def test_a_tokens_per_minute_limit_counts_what_calls_really_used(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"tokens_per_minute": 20})["secret"]
    long = oai(a, key).chat.completions.with_raw_response.create(
        model="local",
        messages=[{"role": "user", "content": "please repeat these words back to me " * 3}],
    )
    used = long.parse().usage
    assert used is not None and used.total_tokens > 20
    assert long.headers["x-ratelimit-limit-tokens"] == "20"

    def refused() -> bool:
        try:
            openai_call(b, key)
        except openai.RateLimitError as exc:
            headers = exc.response.headers
            assert headers["x-ratelimit-remaining-tokens"] == "0"
            assert headers["x-ratelimit-reset-tokens"].endswith("s")
            return "tokens per minute" in exc.message
        return False

    wait_for(refused, 5.0)


def test_a_cancelled_call_gives_its_slot_back_and_is_recorded(
    replicas: tuple[Cluster, Cluster],
) -> None:
    a, b = replicas
    tenant = new_tenant(a)
    key = new_key(a, tenant, limits={"concurrent_requests": 1})["secret"]
    body = {
        "model": "local",
        "stream": True,
        "messages": [{"role": "user", "content": "tell me a long story please"}],
    }
    with httpx.stream(
        "POST",
        a.base_url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ) as reply:
        assert reply.status_code == 200
        chunks = reply.iter_raw()
        next(chunks)  # the call is running: its slot is taken
        with pytest.raises(openai.RateLimitError):
            openai_call(b, key)
        chunks.close()

    # The client went away mid-stream: the slot comes back, the call is on record.
    refusals = []

    def admitted() -> bool:
        try:
            return bool(openai_call(b, key).status_code == 200)
        except openai.RateLimitError:
            refusals.append(1)
            return False

    wait_for(admitted, 5.0)
    calls = 3 + len(refusals)  # the cancelled one, the refused one, the polls
    wait_for(lambda: total_calls(a, key) == calls, 10.0)
    [total] = usage_of(a, key)["data"]
    assert total["failed_calls"] == total["calls"] - 1
