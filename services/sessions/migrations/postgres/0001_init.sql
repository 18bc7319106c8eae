CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    instructions BYTEA,
    metadata TEXT NOT NULL DEFAULT '{}',
    default_model TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    parent_id TEXT NOT NULL DEFAULT '',
    parent_turn_id TEXT NOT NULL DEFAULT '',
    context_start BIGINT NOT NULL DEFAULT 0,
    lease_id TEXT,
    lease_expires_ms BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS sessions_by_tenant ON sessions (tenant_id, created_at_ms DESC, id DESC);

CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    response_id TEXT NOT NULL DEFAULT '',
    body BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

CREATE INDEX IF NOT EXISTS turns_by_response ON turns (response_id) WHERE response_id <> '';
