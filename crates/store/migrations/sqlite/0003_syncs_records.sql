-- The sync table is the job queue; records hold the latest version of every synced record with its
-- position in the connection's change feed.
CREATE TABLE syncs (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL,
    connection_id    TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model_id         TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    model_name       TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    batch_id         TEXT,
    entity_id        TEXT,
    error            TEXT,
    is_initial_sync  BOOLEAN NOT NULL,
    is_one_off       BOOLEAN NOT NULL,
    pagination_state TEXT NOT NULL,
    timerange_start  TEXT,
    timerange_end    TEXT,
    -- Not claimable before this (retry backoff).
    run_after        TEXT NOT NULL,
    -- The lease: which worker runs it, until when (a heartbeat extends it).
    locked_by        TEXT,
    locked_until     TEXT,
    cancel_requested BOOLEAN NOT NULL,
    started_at       TEXT,
    completed_at     TEXT,
    created_at       TEXT NOT NULL,
    modified_at      TEXT NOT NULL
);
CREATE INDEX syncs_claim ON syncs (status, run_after);
CREATE INDEX syncs_by_connection ON syncs (connection_id, id);
CREATE INDEX syncs_by_model ON syncs (model_id, id);

CREATE TABLE records (
    -- Ours (rec_…), stable for the life of the record.
    id                 TEXT NOT NULL UNIQUE,
    connection_id      TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model              TEXT NOT NULL,
    remote_id          TEXT NOT NULL,
    -- Position in the connection's change feed; moves forward on every change.
    seq                BIGINT NOT NULL,
    data               TEXT NOT NULL,
    raw                TEXT NOT NULL,
    -- SHA-256 of data: unchanged records are not rewritten.
    hash               TEXT NOT NULL,
    is_deleted         BOOLEAN NOT NULL,
    remote_deleted_at  TEXT,
    remote_modified_at TEXT,
    -- The last sync that saw it (full passes mark the unseen ones deleted).
    seen_sync_id       TEXT,
    modified_at        TEXT NOT NULL,
    PRIMARY KEY (connection_id, model, remote_id)
);
CREATE UNIQUE INDEX records_feed ON records (connection_id, seq);

-- The last position handed out in each connection's change feed.
ALTER TABLE connections ADD COLUMN record_seq BIGINT NOT NULL DEFAULT 0;

-- At most one active sync per model: concurrent requests cannot queue duplicates.
CREATE UNIQUE INDEX syncs_one_active ON syncs (model_id)
    WHERE status IN ('queued', 'running', 'pending_retry');
