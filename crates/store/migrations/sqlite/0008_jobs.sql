-- One leased queue for the background work that is not a sync (syncs keep their own table: they are
-- a resource users read, with pages, cursors and a change feed of their own). A job kind names what
-- runs (setup, health_check, …); at most one job per (kind, unique_key) waits at a time, and at most
-- one runs at a time (the claim skips a key whose job is running under a live lease).
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    unique_key       TEXT,
    org_id           TEXT,
    connection_id    TEXT REFERENCES connections (id) ON DELETE CASCADE,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'failed')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    run_after        TEXT NOT NULL,
    locked_by        TEXT,
    locked_until     TEXT,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    modified_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX jobs_one_waiting ON jobs (kind, unique_key) WHERE status = 'queued';
CREATE INDEX jobs_runnable ON jobs (run_after, id) WHERE status = 'queued';
CREATE INDEX jobs_lease_expiry ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_running_key ON jobs (kind, unique_key) WHERE status = 'running';

-- When the periodic health check of a connection is next due (NULL: as soon as it is stale). The
-- tick that queues a check moves it on in the same statement, so N processes queue one check per
-- interval between them.
ALTER TABLE connections ADD COLUMN next_health_check_at TEXT;
