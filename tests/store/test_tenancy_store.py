"""Tenants, keys, audit and usage in the store, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rhone.v1 import admin_pb2 as apb
from rhone.v1 import generation_pb2 as gen
from rhone.v1 import tenancy_pb2 as tpb
from services.sessions import migrations
from services.sessions.key_hashing import KeyHasher, legacy_hash
from services.sessions.sql_store import SqlSessionStore, open_store
from services.sessions.store import InvalidRequest, SessionNotFound, now_ms
from services.sessions.tenancy_errors import KeyNotFound, TenantExists, TenantNotFound
from services.sessions.tenancy_servicer import open_tenancy
from services.sessions.tenancy_store import TenancyStore
from services.sessions.usage_store import UsageStore

ACTOR = "admin:test"


@pytest.fixture
async def tenancy(store: SqlSessionStore) -> TenancyStore:
    return await open_tenancy(store.db, "test-hmac-secret")


async def acme(tenancy: TenancyStore, **limits: int) -> tpb.Tenant:
    return await tenancy.create_tenant(
        apb.CreateTenantRequest(id="acme", name="Acme", limits=tpb.Limits(**limits)), ACTOR
    )


async def test_a_key_is_shown_once_stored_as_a_keyed_hash_and_resolves(
    store: SqlSessionStore, tenancy: TenancyStore
) -> None:
    await acme(tenancy, requests_per_minute=10)
    key = await tenancy.create_key(
        apb.CreateKeyRequest(tenant_id="acme", name="ci", limits=tpb.Limits(concurrent_requests=2)),
        ACTOR,
    )
    assert key.secret.startswith("rhone_sk_") and key.secret.startswith(key.prefix)
    rows = await store.db.fetchall("SELECT hash FROM key_secrets WHERE key_id = ?", key.id)
    assert [r["hash"] for r in rows] == [KeyHasher("test-hmac-secret").hash(key.secret)]
    listed = await tenancy.list_keys("acme", include_revoked=False)
    assert [k.id for k in listed] == [key.id] and not listed[0].secret
    resolved = await tenancy.resolve(key.secret)
    assert resolved is not None
    assert (resolved.tenant_id, resolved.key_id) == ("acme", key.id)
    assert resolved.key_limits.concurrent_requests == 2
    assert resolved.tenant_limits.requests_per_minute == 10
    assert not resolved.key_limits.HasField("requests_per_minute")
    assert await tenancy.resolve(key.secret + "x") is None
    # Another server secret: the stored hash is of no use.
    other = TenancyStore(store.db, KeyHasher("another-secret"))
    assert await other.resolve(key.secret) is None


async def test_revocation_moves_the_version_and_is_audited(tenancy: TenancyStore) -> None:
    await acme(tenancy)
    key = await tenancy.create_key(apb.CreateKeyRequest(tenant_id="acme"), ACTOR)
    version = await tenancy.keys_version()
    revoked = await tenancy.revoke_key(key.id, ACTOR)
    assert revoked.revoked_at_ms > 0
    assert await tenancy.keys_version() > version
    assert await tenancy.resolve(key.secret) is None
    entries = await tenancy.list_audit("acme", 0, 10)
    assert [e.action for e in entries] == ["key.revoke", "key.create", "tenant.create"]
    assert entries[0].actor == ACTOR and entries[0].key_id == key.id
    assert entries[0].before.fields["revoked_at"].WhichOneof("kind") == "null_value"
    assert entries[0].after.fields["revoked_at"].number_value > 0
    assert "secret" not in entries[1].after.fields
    with pytest.raises(KeyNotFound):
        await tenancy.revoke_key("key_unknown", ACTOR)


async def test_rotation_keeps_the_old_secret_for_the_grace_period_only(
    tenancy: TenancyStore,
) -> None:
    await acme(tenancy)
    key = await tenancy.create_key(apb.CreateKeyRequest(tenant_id="acme"), ACTOR)
    rotated = await tenancy.rotate_key(key.id, 3600, ACTOR)
    assert rotated.id == key.id and rotated.secret != key.secret
    old = await tenancy.resolve(key.secret)
    assert old is not None and old.expires_at_ms > now_ms()
    assert await tenancy.resolve(rotated.secret) is not None
    again = await tenancy.rotate_key(key.id, 0, ACTOR)
    assert await tenancy.resolve(key.secret) is None
    assert await tenancy.resolve(rotated.secret) is None
    fresh = await tenancy.resolve(again.secret)
    assert fresh is not None and fresh.expires_at_ms == 0


async def test_an_expired_key_does_not_resolve(tenancy: TenancyStore) -> None:
    await acme(tenancy)
    key = await tenancy.create_key(
        apb.CreateKeyRequest(tenant_id="acme", expires_at_ms=now_ms() - 1), ACTOR
    )
    assert await tenancy.resolve(key.secret) is None
    await tenancy.update_key(apb.UpdateKeyRequest(id=key.id, expires_at_ms=0), ACTOR)
    assert await tenancy.resolve(key.secret) is not None


async def test_deleting_a_tenant_revokes_its_keys_and_deletes_sessions_when_asked(
    store: SqlSessionStore, tenancy: TenancyStore
) -> None:
    await acme(tenancy)
    key = await tenancy.create_key(apb.CreateKeyRequest(tenant_id="acme"), ACTOR)
    session = await store.create_session("acme")
    await tenancy.delete_tenant("acme", delete_sessions=False, actor=ACTOR)
    assert await tenancy.resolve(key.secret) is None
    assert (await tenancy.get_key(key.id)).revoked_at_ms > 0
    assert (await store.get_session("acme", session.id)).id == session.id
    with pytest.raises(TenantNotFound):
        await tenancy.get_tenant("acme")
    with pytest.raises(TenantExists):
        await acme(tenancy)

    await tenancy.create_tenant(apb.CreateTenantRequest(id="beta"), ACTOR)
    kept = await store.create_session("beta")
    await tenancy.delete_tenant("beta", delete_sessions=True, actor=ACTOR)
    with pytest.raises(SessionNotFound):
        await store.get_session("beta", kept.id)


async def test_updates_replace_what_is_set_and_keep_the_rest(tenancy: TenancyStore) -> None:
    await tenancy.create_tenant(
        apb.CreateTenantRequest(id="acme", models=["gpt-*"], monthly_budget_usd=5.0), ACTOR
    )
    updated = await tenancy.update_tenant(
        apb.UpdateTenantRequest(id="acme", limits=tpb.Limits(tokens_per_minute=1000)), ACTOR
    )
    assert list(updated.models) == ["gpt-*"] and updated.monthly_budget_usd == 5.0
    assert updated.limits.tokens_per_minute == 1000
    cleared = await tenancy.update_tenant(
        apb.UpdateTenantRequest(id="acme", models=apb.StringList(), clear_monthly_budget=True),
        ACTOR,
    )
    assert list(cleared.models) == [] and not cleared.HasField("monthly_budget_usd")
    with pytest.raises(InvalidRequest):
        await tenancy.create_tenant(apb.CreateTenantRequest(id="no spaces"), ACTOR)


async def test_environment_keys_bootstrap_once_and_stay_revoked(tenancy: TenancyStore) -> None:
    await tenancy.bootstrap_key("default", "rk-env-key", "RHONE_API_KEY")
    await tenancy.bootstrap_key("default", "rk-env-key", "RHONE_API_KEY")
    keys = await tenancy.list_keys("default", include_revoked=True)
    assert len(keys) == 1 and keys[0].source == "env"
    await tenancy.revoke_key(keys[0].id, ACTOR)
    await tenancy.bootstrap_key("default", "rk-env-key", "RHONE_API_KEY")
    assert await tenancy.resolve("rk-env-key") is None
    assert len(await tenancy.list_keys("default", include_revoked=True)) == 1


async def test_replicas_starting_together_bootstrap_one_environment_key(
    store: SqlSessionStore, store_url: str
) -> None:
    others = [open_store(store_url) for _ in range(3)]
    try:
        await asyncio.gather(*(other.open() for other in others))
        stores = [await open_tenancy(s.db, "test-hmac-secret") for s in [store, *others]]
        await asyncio.gather(
            *(t.bootstrap_key("default", "rk-same", "RHONE_API_KEY") for t in stores)
        )
    finally:
        for other in others:
            await other.close()
    tenancy = await open_tenancy(store.db, "test-hmac-secret")
    assert len(await tenancy.list_keys("default", include_revoked=True)) == 1
    assert await tenancy.resolve("rk-same") is not None


async def test_environment_keys_that_left_the_environment_are_revoked(
    tenancy: TenancyStore,
) -> None:
    await tenancy.bootstrap_key("default", "rk-stays", "RHONE_API_KEY")
    await tenancy.bootstrap_key("other", "rk-goes", "RHONE_TENANT_KEYS")
    made = await tenancy.create_key(apb.CreateKeyRequest(tenant_id="other"), ACTOR)
    [gone] = await tenancy.revoke_env_keys_except(["rk-stays"])
    assert (await tenancy.get_key(gone)).tenant_id == "other"
    assert await tenancy.resolve("rk-goes") is None
    assert await tenancy.resolve("rk-stays") is not None
    assert await tenancy.resolve(made.secret) is not None  # an admin key is no env key
    assert await tenancy.revoke_env_keys_except(["rk-stays"]) == []
    [entry] = [e for e in await tenancy.list_audit("other", 0, 10) if e.action == "key.revoke"]
    assert entry.actor == "system:env"


@pytest.fixture
async def legacy_store(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SqlSessionStore]:
    """A database at migration 0001 holding an unsalted key, then migrated to now."""
    store = open_store(store_url)
    everything = migrations.migration_files
    monkeypatch.setattr(migrations, "migration_files", lambda name: everything(name)[:1])
    await store.open()
    # The row the old key path wrote: the key's unsalted SHA-256 and its tenant.
    await store.db.execute(
        "INSERT INTO api_keys (key_hash, tenant_id, created_at_ms) VALUES (?, ?, ?)",
        legacy_hash("rk-legacy-key"),
        "old-tenant",
        now_ms(),
    )
    monkeypatch.setattr(migrations, "migration_files", everything)
    await migrations.migrate(store.db)
    try:
        yield store
    finally:
        await store.close()


async def test_legacy_unsalted_keys_migrate_and_are_rehashed_on_first_use(
    legacy_store: SqlSessionStore,
) -> None:
    tenancy = await open_tenancy(legacy_store.db, "test-hmac-secret")
    assert [t.id for t in await tenancy.list_tenants(False)] == ["old-tenant"]
    [key] = await tenancy.list_keys("old-tenant", include_revoked=False)
    # Still in the environment: kept.
    assert await tenancy.revoke_env_keys_except(["rk-legacy-key"]) == []
    resolved = await tenancy.resolve("rk-legacy-key")
    assert resolved is not None and resolved.key_id == key.id
    rows = await legacy_store.db.fetchall("SELECT hash, kind FROM key_secrets")
    assert [(r["hash"], r["kind"]) for r in rows] == [
        (KeyHasher("test-hmac-secret").hash("rk-legacy-key"), "hmac")
    ]
    assert (await tenancy.resolve("rk-legacy-key")) is not None


def record(model: str, cost: float, *, key_id: str = "key_a", status: int = 1) -> tpb.UsageRecord:
    return tpb.UsageRecord(
        id=f"u_{model}_{cost}_{status}_{key_id}",
        tenant_id="acme",
        key_id=key_id,
        model=model,
        usage=gen.Usage(input_tokens=10, output_tokens=5, cached_input_tokens=2),
        cost_usd=cost,
        status=status,  # type: ignore[arg-type]
        created_at_ms=now_ms(),
    )


async def test_usage_sums_by_model_and_day_and_counts_a_batch_once(
    store: SqlSessionStore, tenancy: TenancyStore
) -> None:
    usage = UsageStore(store.db)
    batch = [record("gpt-4.1", 0.5), record("gpt-4.1", 0.25, status=2), record("local", 0.0)]
    await usage.record(batch)
    await usage.record(batch)
    by_model = {row.group: row for row in await usage.query("acme", 0, 0, "model")}
    assert by_model["gpt-4.1"].calls == 2 and by_model["gpt-4.1"].failed_calls == 1
    assert by_model["gpt-4.1"].input_tokens == 20 and by_model["gpt-4.1"].cost_usd == 0.75
    [total] = await usage.query("acme", 0, 0, "")
    assert (total.calls, total.output_tokens, total.cached_input_tokens) == (3, 15, 6)
    [day] = await usage.query("acme", 0, 0, "day")
    assert len(day.group) == 10 and day.calls == 3
    assert await usage.query("other", 0, 0, "model") == []
    with pytest.raises(InvalidRequest):
        await usage.query("acme", 0, 0, "colour")


async def test_resolution_carries_the_month_spend_when_a_budget_is_set(
    store: SqlSessionStore, tenancy: TenancyStore
) -> None:
    await acme(tenancy)
    key = await tenancy.create_key(
        apb.CreateKeyRequest(tenant_id="acme", monthly_budget_usd=1.0), ACTOR
    )
    await UsageStore(store.db).record([record("gpt-4.1", 0.4, key_id=key.id)])
    resolved = await tenancy.resolve(key.secret)
    assert resolved is not None
    assert resolved.key_budget_usd == 1.0 and resolved.key_spent_usd == pytest.approx(0.4)
    assert not resolved.HasField("tenant_budget_usd")
