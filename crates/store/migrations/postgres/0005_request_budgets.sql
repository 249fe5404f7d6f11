-- Request budgets of ERP principals, shared by every ledgerlink process on this database.
-- Times are milliseconds since the Unix epoch.
CREATE TABLE budget_principals (
    principal       TEXT PRIMARY KEY,
    -- The ERP asked us to wait (429/503 Retry-After) until then.
    paused_until_ms BIGINT NOT NULL,
    touched_ms      BIGINT NOT NULL
);

-- Requests started, counted per principal in buckets of 1/30 of the window.
CREATE TABLE budget_requests (
    principal TEXT NOT NULL,
    bucket    BIGINT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (principal, bucket)
);

-- Requests in flight; a crashed holder's slot frees itself at held_until_ms.
CREATE TABLE budget_slots (
    id            TEXT PRIMARY KEY,
    principal     TEXT NOT NULL,
    held_until_ms BIGINT NOT NULL
);
CREATE INDEX budget_slots_by_principal ON budget_slots (principal);
