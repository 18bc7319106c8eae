-- Tenants as a product (docs/tenants.md): tenants, keys with keyed hashes, the audit log and
-- usage records. The legacy api_keys rows (unsalted SHA-256) move into tenant_keys, marked
-- kind 'sha256', and the first call that presents such a key rehashes it with the server's secret.
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    limits TEXT NOT NULL DEFAULT '{}',
    models TEXT NOT NULL DEFAULT '[]',
    monthly_budget_usd REAL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    deleted_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS tenant_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    prefix TEXT NOT NULL DEFAULT '',
    limits TEXT NOT NULL DEFAULT '{}',
    models TEXT NOT NULL DEFAULT '[]',
    expires_at_ms BIGINT NOT NULL DEFAULT 0,
    monthly_budget_usd REAL,
    revoked_at_ms BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT 'admin'
);

CREATE INDEX IF NOT EXISTS tenant_keys_by_tenant ON tenant_keys (tenant_id, created_at_ms);

CREATE TABLE IF NOT EXISTS key_secrets (
    hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES tenant_keys (id) ON DELETE CASCADE,
    kind TEXT NOT NULL DEFAULT 'hmac',
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS key_secrets_by_key ON key_secrets (key_id);

CREATE TABLE IF NOT EXISTS keys_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);

INSERT INTO keys_version (id, version) VALUES (1, 1) ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    tenant_id TEXT NOT NULL DEFAULT '',
    key_id TEXT NOT NULL DEFAULT '',
    before TEXT NOT NULL DEFAULT '{}',
    after TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit_log (tenant_id, id);

CREATE TABLE IF NOT EXISTS usage_records (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    key_id TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    surface TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL DEFAULT '',
    input_tokens BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    latency_ms BIGINT NOT NULL DEFAULT 0,
    ttft_ms BIGINT NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0,
    http_status INTEGER NOT NULL DEFAULT 0,
    error_code TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS usage_by_tenant ON usage_records (tenant_id, created_at_ms);
CREATE INDEX IF NOT EXISTS usage_by_key ON usage_records (key_id, created_at_ms);

INSERT INTO tenants (id, name, created_at_ms, updated_at_ms)
SELECT tenant_id, tenant_id, MIN(created_at_ms), MIN(created_at_ms) FROM api_keys
WHERE true GROUP BY tenant_id
ON CONFLICT (id) DO NOTHING;

INSERT INTO tenant_keys (id, tenant_id, name, created_at_ms, updated_at_ms, source)
SELECT 'key_' || substr(key_hash, 1, 20), tenant_id, 'migrated', created_at_ms, created_at_ms, 'env'
FROM api_keys WHERE true
ON CONFLICT (id) DO NOTHING;

INSERT INTO key_secrets (hash, key_id, kind, created_at_ms)
SELECT key_hash, 'key_' || substr(key_hash, 1, 20), 'sha256', created_at_ms FROM api_keys WHERE true
ON CONFLICT (hash) DO NOTHING;
