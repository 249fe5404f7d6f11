-- Writes to the ERP made on a user's behalf (a payment applied to invoices…). Each runs as a job of
-- kind "write" (unique key: the write's id); the row is what the API shows.
CREATE TABLE writes (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model         TEXT NOT NULL,
    operation     TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN
                      ('queued', 'running', 'pending_retry', 'complete', 'failed', 'cancelled')),
    attempt       INTEGER NOT NULL DEFAULT 0,
    request       TEXT NOT NULL,
    result        TEXT,
    error         TEXT,
    reached_erp   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL,
    modified_at   TEXT NOT NULL,
    completed_at  TEXT
);
CREATE INDEX writes_by_connection ON writes (connection_id, id);

-- Idempotency keys: the same key with the same request gives back the same write; with another
-- request it is refused. Kept until expires_at (at least 7 days).
CREATE TABLE idempotency_keys (
    org_id        TEXT NOT NULL,
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    write_id      TEXT NOT NULL REFERENCES writes (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (org_id, scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
