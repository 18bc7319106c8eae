-- Runs (docs/rhone-ws-v1.md, "Runs"): a run's state and its event log, so that a client can
-- resume a run on any facade replica. Numbered after its issue, so that it never takes the
-- number of another branch's migration.
CREATE TABLE IF NOT EXISTS runs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    shape TEXT NOT NULL,
    body_json TEXT NOT NULL,
    status TEXT NOT NULL,
    steps INTEGER NOT NULL DEFAULT 0,
    max_steps INTEGER NOT NULL,
    pending_json TEXT NOT NULL DEFAULT '[]',
    deadline_ms BIGINT NOT NULL DEFAULT 0,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE IF NOT EXISTS run_events (
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event BYTEA NOT NULL,
    PRIMARY KEY (tenant_id, run_id, seq),
    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);
