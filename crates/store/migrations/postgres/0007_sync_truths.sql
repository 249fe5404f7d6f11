-- Records a sync could not map (the rest of the page went on): shown on the sync, re-read by id at
-- the model's next sync until they map, and never taken for deleted by a full pass meanwhile.
CREATE TABLE record_skips (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    model         TEXT NOT NULL,
    remote_id     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    sync_id       TEXT NOT NULL,
    skipped_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, model, remote_id)
);

-- Deletions are found by full passes: each model runs one on its own cadence (default daily),
-- spread over the day so that many connections do not all run theirs at once.
ALTER TABLE models ADD COLUMN full_sync_frequency_secs BIGINT NOT NULL DEFAULT 86400;
ALTER TABLE models ADD COLUMN next_full_sync_at TIMESTAMPTZ;

-- One row that readiness checks rewrite: a database that cannot take a write (full disk) is not ready.
CREATE TABLE ready_probe (id INTEGER PRIMARY KEY, checked_at TIMESTAMPTZ NOT NULL);
INSERT INTO ready_probe (id, checked_at) VALUES (1, CURRENT_TIMESTAMP);

-- The user's own choice of reading a model (NULL: none made). Discovery's defaults (e.g. turning a
-- model on when the companion extension is found) never override a model the user switched off.
ALTER TABLE models ADD COLUMN read_choice BOOLEAN;
