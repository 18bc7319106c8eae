"""Tenants and their keys over SQL (both backends): create, read, update, revoke, rotate,
resolve, each change written with its audit entry in one transaction and moving the keys'
version (the counter the facades poll to forget cached resolutions at once).

A key has one or more secrets (key_secrets): rotation adds a new one and gives the old ones
an end (the grace period). A secret is found by its keyed hash; a key migrated from the old
unsalted table is found by that hash once and rehashed on the spot."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson

from rhone.jsonutil import dict_from_struct, struct_from_dict
from rhone.tenancy import key_to_dict, limits_from_dict, limits_to_dict, tenant_to_dict
from rhone.v1 import admin_pb2 as apb
from rhone.v1 import tenancy_pb2 as tpb
from services.sessions.backends.base import Database, Queries, Row
from services.sessions.key_hashing import KeyHasher, legacy_hash, new_secret, visible_prefix
from services.sessions.store import InvalidRequest, now_ms
from services.sessions.tenancy_errors import KeyNotFound, TenantExists, TenantNotFound

_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TENANT_COLUMNS = (
    "id, name, metadata, limits, models, monthly_budget_usd, created_at_ms, updated_at_ms, "
    "deleted_at_ms"
)
KEY_COLUMNS = (
    "id, tenant_id, name, prefix, limits, models, expires_at_ms, monthly_budget_usd, "
    "revoked_at_ms, created_at_ms, updated_at_ms, source"
)
_RESOLVE = (
    "SELECT k.id, k.tenant_id, k.limits, k.models, k.expires_at_ms, k.monthly_budget_usd, "
    "k.revoked_at_ms, s.expires_at_ms AS secret_expires_at_ms, s.kind, "
    "t.limits AS tenant_limits, t.models AS tenant_models, "
    "t.monthly_budget_usd AS tenant_budget, t.deleted_at_ms "
    "FROM key_secrets s JOIN tenant_keys k ON k.id = s.key_id "
    "LEFT JOIN tenants t ON t.id = k.tenant_id WHERE s.hash = ?"
)


def month_start_ms(at_ms: int) -> int:
    """The first millisecond of the calendar month (UTC) holding at_ms: budgets are monthly."""
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    return int(at.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _limits(blob: str | None) -> tpb.Limits:
    return limits_from_dict(orjson.loads(blob or "{}"))


def _models(blob: str | None) -> list[str]:
    return list(orjson.loads(blob or "[]"))


def tenant_from_row(row: Row) -> tpb.Tenant:
    tenant = tpb.Tenant(
        id=row["id"],
        name=row["name"],
        metadata=struct_from_dict(orjson.loads(row["metadata"] or "{}")),
        limits=_limits(row["limits"]),
        models=_models(row["models"]),
        created_at_ms=row["created_at_ms"],
        updated_at_ms=row["updated_at_ms"],
        deleted_at_ms=row["deleted_at_ms"],
    )
    if row["monthly_budget_usd"] is not None:
        tenant.monthly_budget_usd = float(row["monthly_budget_usd"])
    return tenant


def key_from_row(row: Row) -> tpb.ApiKey:
    key = tpb.ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        prefix=row["prefix"],
        limits=_limits(row["limits"]),
        models=_models(row["models"]),
        expires_at_ms=row["expires_at_ms"],
        revoked_at_ms=row["revoked_at_ms"],
        created_at_ms=row["created_at_ms"],
        updated_at_ms=row["updated_at_ms"],
        source=row["source"],
    )
    if row["monthly_budget_usd"] is not None:
        key.monthly_budget_usd = float(row["monthly_budget_usd"])
    return key


def _audit_view(message: tpb.Tenant | tpb.ApiKey | None) -> dict[str, Any]:
    if message is None:
        return {}
    return tenant_to_dict(message) if isinstance(message, tpb.Tenant) else key_to_dict(message)


class TenancyStore:
    def __init__(self, db: Database, hasher: KeyHasher) -> None:
        self.db = db
        self.hasher = hasher

    # the audit log and the version

    async def _changed(
        self,
        tx: Queries,
        actor: str,
        action: str,
        before: tpb.Tenant | tpb.ApiKey | None,
        after: tpb.Tenant | tpb.ApiKey | None,
    ) -> None:
        subject = after if after is not None else before
        assert subject is not None
        tenant_id = subject.id if isinstance(subject, tpb.Tenant) else subject.tenant_id
        key_id = subject.id if isinstance(subject, tpb.ApiKey) else ""
        await tx.execute(
            "INSERT INTO audit_log (at_ms, actor, action, tenant_id, key_id, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            now_ms(),
            actor,
            action,
            tenant_id,
            key_id,
            _json(_audit_view(before)),
            _json(_audit_view(after)),
        )
        await tx.execute("UPDATE keys_version SET version = version + 1 WHERE id = 1")

    async def keys_version(self) -> int:
        row = await self.db.fetchone("SELECT version FROM keys_version WHERE id = 1")
        return 0 if row is None else int(row["version"])

    async def list_audit(self, tenant_id: str, start_ms: int, limit: int) -> list[apb.AuditEntry]:
        limit = 100 if limit <= 0 else min(limit, 1000)
        where, args = "at_ms >= ?", list[Any]([start_ms])
        if tenant_id:
            where += " AND tenant_id = ?"
            args.append(tenant_id)
        rows = await self.db.fetchall(
            "SELECT id, at_ms, actor, action, tenant_id, key_id, before, after FROM audit_log "
            f"WHERE {where} ORDER BY id DESC LIMIT ?",
            *args,
            limit,
        )
        return [
            apb.AuditEntry(
                id=row["id"],
                at_ms=row["at_ms"],
                actor=row["actor"],
                action=row["action"],
                tenant_id=row["tenant_id"],
                key_id=row["key_id"],
                before=struct_from_dict(orjson.loads(row["before"])),
                after=struct_from_dict(orjson.loads(row["after"])),
            )
            for row in rows
        ]

    # tenants

    async def create_tenant(self, request: apb.CreateTenantRequest, actor: str) -> tpb.Tenant:
        if not _TENANT_ID.match(request.id):
            raise InvalidRequest(
                "id: a tenant id is 1 to 64 letters, digits, '_', '.' or '-' "
                "(starting with a letter or digit)."
            )
        now = now_ms()
        budget = request.monthly_budget_usd if request.HasField("monthly_budget_usd") else None
        async with self.db.transaction() as tx:
            if await tx.fetchone("SELECT id FROM tenants WHERE id = ?", request.id) is not None:
                raise TenantExists(request.id)
            row = await tx.fetchone(
                f"INSERT INTO tenants ({TENANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) "
                f"RETURNING {TENANT_COLUMNS}",
                request.id,
                request.name or request.id,
                _json(dict_from_struct(request.metadata)),
                _json(limits_to_dict(request.limits)),
                _json(list(request.models)),
                budget,
                now,
                now,
            )
            assert row is not None
            tenant = tenant_from_row(row)
            await self._changed(tx, actor, "tenant.create", None, tenant)
        return tenant

    async def ensure_tenant(self, tx: Queries, tenant_id: str) -> None:
        now = now_ms()
        await tx.execute(
            "INSERT INTO tenants (id, name, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            tenant_id,
            tenant_id,
            now,
            now,
        )

    async def list_tenants(self, include_deleted: bool) -> list[tpb.Tenant]:
        where = "" if include_deleted else "WHERE deleted_at_ms = 0"
        rows = await self.db.fetchall(f"SELECT {TENANT_COLUMNS} FROM tenants {where} ORDER BY id")
        return [tenant_from_row(row) for row in rows]

    async def get_tenant(self, tenant_id: str, q: Queries | None = None) -> tpb.Tenant:
        row = await (q or self.db).fetchone(
            f"SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ? AND deleted_at_ms = 0", tenant_id
        )
        if row is None:
            raise TenantNotFound(tenant_id)
        return tenant_from_row(row)

    async def update_tenant(self, request: apb.UpdateTenantRequest, actor: str) -> tpb.Tenant:
        sets, args = ["updated_at_ms = ?"], list[Any]([now_ms()])
        if request.HasField("name"):
            sets.append("name = ?")
            args.append(request.name)
        if request.HasField("metadata"):
            sets.append("metadata = ?")
            args.append(_json(dict_from_struct(request.metadata)))
        _common_updates(request, sets, args)
        async with self.db.transaction() as tx:
            before = await self.get_tenant(request.id, tx)
            row = await tx.fetchone(
                f"UPDATE tenants SET {', '.join(sets)} WHERE id = ? RETURNING {TENANT_COLUMNS}",
                *args,
                request.id,
            )
            assert row is not None
            after = tenant_from_row(row)
            await self._changed(tx, actor, "tenant.update", before, after)
        return after

    async def delete_tenant(self, tenant_id: str, delete_sessions: bool, actor: str) -> tpb.Tenant:
        now = now_ms()
        async with self.db.transaction() as tx:
            before = await self.get_tenant(tenant_id, tx)
            row = await tx.fetchone(
                "UPDATE tenants SET deleted_at_ms = ?, updated_at_ms = ? WHERE id = ? "
                f"RETURNING {TENANT_COLUMNS}",
                now,
                now,
                tenant_id,
            )
            assert row is not None
            after = tenant_from_row(row)
            revoked = await tx.fetchall(
                "UPDATE tenant_keys SET revoked_at_ms = ?, updated_at_ms = ? "
                f"WHERE tenant_id = ? AND revoked_at_ms = 0 RETURNING {KEY_COLUMNS}",
                now,
                now,
                tenant_id,
            )
            if delete_sessions:
                await tx.execute("DELETE FROM sessions WHERE tenant_id = ?", tenant_id)
            await self._changed(tx, actor, "tenant.delete", before, after)
            for key_row in revoked:
                key = key_from_row(key_row)
                unrevoked = tpb.ApiKey()
                unrevoked.CopyFrom(key)
                unrevoked.revoked_at_ms = 0
                await self._changed(tx, actor, "key.revoke", unrevoked, key)
        return after

    # keys

    async def create_key(self, request: apb.CreateKeyRequest, actor: str) -> tpb.ApiKey:
        secret = new_secret()
        now = now_ms()
        budget = request.monthly_budget_usd if request.HasField("monthly_budget_usd") else None
        async with self.db.transaction() as tx:
            await self.get_tenant(request.tenant_id, tx)
            key = await self._insert_key(
                tx,
                key_id="key_" + secrets.token_hex(12),
                tenant_id=request.tenant_id,
                name=request.name,
                secret=secret,
                source="admin",
                limits=request.limits,
                models=list(request.models),
                expires_at_ms=request.expires_at_ms,
                budget=budget,
                now=now,
            )
            assert key is not None  # 96 random bits
            await self._changed(tx, actor, "key.create", None, key)
        key.secret = secret
        return key

    async def _insert_key(
        self,
        tx: Queries,
        *,
        key_id: str,
        tenant_id: str,
        name: str,
        secret: str,
        source: str,
        limits: tpb.Limits,
        models: list[str],
        expires_at_ms: int,
        budget: float | None,
        now: int,
    ) -> tpb.ApiKey | None:
        """The new key, or None when a key with that id exists (a concurrent bootstrap)."""
        row = await tx.fetchone(
            f"INSERT INTO tenant_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) "
            f"ON CONFLICT (id) DO NOTHING RETURNING {KEY_COLUMNS}",
            key_id,
            tenant_id,
            name,
            visible_prefix(secret),
            _json(limits_to_dict(limits)),
            _json(models),
            expires_at_ms,
            budget,
            now,
            now,
            source,
        )
        if row is None:
            return None
        await tx.execute(
            "INSERT INTO key_secrets (hash, key_id, kind, created_at_ms) VALUES (?, ?, 'hmac', ?)",
            self.hasher.hash(secret),
            key_id,
            now,
        )
        return key_from_row(row)

    async def bootstrap_key(self, tenant_id: str, secret: str, name: str) -> None:
        """An environment key (RHONE_API_KEY, RHONE_TENANT_KEYS): made once, with its tenant;
        a key an operator revoked since stays revoked."""
        if await self._resolve_row(secret) is not None:
            return
        digest = self.hasher.hash(secret)
        key_id = "key_env_" + digest[:16]
        async with self.db.transaction() as tx:
            await self.ensure_tenant(tx, tenant_id)
            key = await self._insert_key(
                tx,
                key_id=key_id,
                tenant_id=tenant_id,
                name=name,
                secret=secret,
                source="env",
                limits=tpb.Limits(),
                models=[],
                expires_at_ms=0,
                budget=None,
                now=now_ms(),
            )
            if key is None:  # replicas starting together: another one made it
                return
            await self._changed(tx, "system:env", "key.create", None, key)

    async def revoke_env_keys_except(self, secrets_in_env: list[str]) -> list[str]:
        """Revokes the environment keys that left the environment (removing a key from
        RHONE_API_KEY / RHONE_TENANT_KEYS revokes it at the next start); their ids."""
        keep = {self.hasher.hash(s) for s in secrets_in_env}
        keep |= {legacy_hash(s) for s in secrets_in_env}
        rows = await self.db.fetchall(
            "SELECT k.id, s.hash FROM tenant_keys k JOIN key_secrets s ON s.key_id = k.id "
            "WHERE k.source = 'env' AND k.revoked_at_ms = 0"
        )
        hashes: dict[str, set[str]] = {}
        for row in rows:
            hashes.setdefault(row["id"], set()).add(row["hash"])
        gone = sorted(key_id for key_id, held in hashes.items() if not held & keep)
        for key_id in gone:
            await self.revoke_key(key_id, "system:env")
        return gone

    async def list_keys(self, tenant_id: str, include_revoked: bool) -> list[tpb.ApiKey]:
        where, args = "1 = 1", list[Any]()
        if tenant_id:
            where += " AND tenant_id = ?"
            args.append(tenant_id)
        if not include_revoked:
            where += " AND revoked_at_ms = 0"
        rows = await self.db.fetchall(
            f"SELECT {KEY_COLUMNS} FROM tenant_keys WHERE {where} ORDER BY created_at_ms, id",
            *args,
        )
        return [key_from_row(row) for row in rows]

    async def get_key(self, key_id: str, q: Queries | None = None) -> tpb.ApiKey:
        row = await (q or self.db).fetchone(
            f"SELECT {KEY_COLUMNS} FROM tenant_keys WHERE id = ?", key_id
        )
        if row is None:
            raise KeyNotFound(key_id)
        return key_from_row(row)

    async def update_key(self, request: apb.UpdateKeyRequest, actor: str) -> tpb.ApiKey:
        sets, args = ["updated_at_ms = ?"], list[Any]([now_ms()])
        if request.HasField("name"):
            sets.append("name = ?")
            args.append(request.name)
        if request.HasField("expires_at_ms"):
            sets.append("expires_at_ms = ?")
            args.append(request.expires_at_ms)
        _common_updates(request, sets, args)
        async with self.db.transaction() as tx:
            before = await self.get_key(request.id, tx)
            row = await tx.fetchone(
                f"UPDATE tenant_keys SET {', '.join(sets)} WHERE id = ? RETURNING {KEY_COLUMNS}",
                *args,
                request.id,
            )
            assert row is not None
            after = key_from_row(row)
            await self._changed(tx, actor, "key.update", before, after)
        return after

    async def revoke_key(self, key_id: str, actor: str) -> tpb.ApiKey:
        now = now_ms()
        async with self.db.transaction() as tx:
            before = await self.get_key(key_id, tx)
            if before.revoked_at_ms:
                return before
            row = await tx.fetchone(
                "UPDATE tenant_keys SET revoked_at_ms = ?, updated_at_ms = ? WHERE id = ? "
                f"RETURNING {KEY_COLUMNS}",
                now,
                now,
                key_id,
            )
            assert row is not None
            after = key_from_row(row)
            await self._changed(tx, actor, "key.revoke", before, after)
        return after

    async def rotate_key(self, key_id: str, grace_s: int, actor: str) -> tpb.ApiKey:
        if grace_s < 0:
            raise InvalidRequest("grace_s must be >= 0.")
        secret = new_secret()
        now = now_ms()
        async with self.db.transaction() as tx:
            before = await self.get_key(key_id, tx)
            if before.revoked_at_ms:
                raise InvalidRequest(f"Key '{key_id}' is revoked; a revoked key cannot rotate.")
            # The old secrets end with the grace period (or earlier, if they already were to).
            end = now + grace_s * 1000
            await tx.execute(
                "UPDATE key_secrets SET expires_at_ms = ? "
                "WHERE key_id = ? AND (expires_at_ms = 0 OR expires_at_ms > ?)",
                end,
                key_id,
                end,
            )
            await tx.execute(
                "INSERT INTO key_secrets (hash, key_id, kind, created_at_ms) "
                "VALUES (?, ?, 'hmac', ?)",
                self.hasher.hash(secret),
                key_id,
                now,
            )
            row = await tx.fetchone(
                "UPDATE tenant_keys SET prefix = ?, updated_at_ms = ? WHERE id = ? "
                f"RETURNING {KEY_COLUMNS}",
                visible_prefix(secret),
                now,
                key_id,
            )
            assert row is not None
            after = key_from_row(row)
            await self._changed(tx, actor, "key.rotate", before, after)
        after.secret = secret
        return after

    # resolution

    async def _resolve_row(self, secret: str) -> Row | None:
        row = await self.db.fetchone(_RESOLVE, self.hasher.hash(secret))
        if row is not None:
            return row
        old = legacy_hash(secret)
        row = await self.db.fetchone(_RESOLVE, old)
        if row is None or row["kind"] != "sha256":
            return None
        await self.db.execute(
            "UPDATE key_secrets SET hash = ?, kind = 'hmac' WHERE hash = ?",
            self.hasher.hash(secret),
            old,
        )
        return row

    async def resolve(self, secret: str) -> tpb.ResolvedKey | None:
        """What the edge needs to admit a call with this key; None when it must not."""
        if not secret:
            return None
        row = await self._resolve_row(secret)
        now = now_ms()
        if (
            row is None
            or row["revoked_at_ms"]
            or row["deleted_at_ms"]
            or 0 < row["expires_at_ms"] <= now
            or 0 < row["secret_expires_at_ms"] <= now
        ):
            return None
        ends = [t for t in (row["expires_at_ms"], row["secret_expires_at_ms"]) if t]
        resolved = tpb.ResolvedKey(
            tenant_id=row["tenant_id"],
            key_id=row["id"],
            key_limits=_limits(row["limits"]),
            tenant_limits=_limits(row["tenant_limits"]),
            key_models=_models(row["models"]),
            tenant_models=_models(row["tenant_models"]),
            expires_at_ms=min(ends) if ends else 0,
        )
        since = month_start_ms(now)
        if row["monthly_budget_usd"] is not None:
            resolved.key_budget_usd = float(row["monthly_budget_usd"])
            resolved.key_spent_usd = await self._spent("key_id", row["id"], since)
        if row["tenant_budget"] is not None:
            resolved.tenant_budget_usd = float(row["tenant_budget"])
            resolved.tenant_spent_usd = await self._spent("tenant_id", row["tenant_id"], since)
        return resolved

    async def _spent(self, column: str, value: str, since_ms: int) -> float:
        row = await self.db.fetchone(
            f"SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM usage_records "
            f"WHERE {column} = ? AND created_at_ms >= ?",
            value,
            since_ms,
        )
        return 0.0 if row is None else float(row["spent"])


def _common_updates(
    request: apb.UpdateTenantRequest | apb.UpdateKeyRequest, sets: list[str], args: list[Any]
) -> None:
    """The fields tenants and keys share: limits, models, budget."""
    if request.HasField("limits"):
        sets.append("limits = ?")
        args.append(_json(limits_to_dict(request.limits)))
    if request.HasField("models"):
        sets.append("models = ?")
        args.append(_json(list(request.models.values)))
    if request.clear_monthly_budget:
        sets.append("monthly_budget_usd = NULL")
    elif request.HasField("monthly_budget_usd"):
        sets.append("monthly_budget_usd = ?")
        args.append(request.monthly_budget_usd)
