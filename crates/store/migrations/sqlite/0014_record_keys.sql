-- Records are found by a 64-bit key of their identity (connection, model, remote id: the first 8
-- bytes of its SHA-256, see the store's `record_keys` module) instead of a primary key on the
-- identity's text. Business Central's ids are random GUIDs, so every new record lands on a random
-- leaf of that index: at ~85 bytes an entry it outgrew SQLite's page cache and each write rewrote
-- thousands of its 16 KiB pages (26 GB written for 1,000,000 invoices, 10 GB with the key).
-- A record whose key another record already holds (a collision), and every record stored before this
-- migration (SQLite cannot compute the key in SQL), has no key and is found by its identity through
-- `records_unkeyed`. SQLite cannot drop a primary key, so the table is rebuilt (in rowid order, so
-- that the change feed's order on disk is kept).
CREATE TABLE records_keyed (
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
    -- The identity's key, or NULL (see above).
    rkey               INTEGER
);
INSERT INTO records_keyed (id, connection_id, model, remote_id, seq, data, raw, hash, is_deleted,
    remote_deleted_at, remote_modified_at, seen_sync_id, modified_at, rkey)
SELECT id, connection_id, model, remote_id, seq, data, raw, hash, is_deleted, remote_deleted_at,
    remote_modified_at, seen_sync_id, modified_at, NULL
FROM records ORDER BY rowid;
DROP TABLE records;
ALTER TABLE records_keyed RENAME TO records;
-- The change feed is read one model at a time, and so are the records a full pass did not see: the
-- feed's index leads with the model (the primary key's did, for the latter).
CREATE UNIQUE INDEX records_feed ON records (connection_id, model, seq);
CREATE UNIQUE INDEX records_key ON records (rkey);
CREATE UNIQUE INDEX records_unkeyed ON records (connection_id, model, remote_id) WHERE rkey IS NULL;
