-- Records are found by a 64-bit key of their identity (connection, model, remote id: the first 8
-- bytes of its SHA-256, see the store's `record_keys` module) instead of a primary key on the
-- identity's text, as on SQLite (where that index of random GUIDs was what grew costly). A record
-- whose key another record already holds (a collision), and every record stored before this
-- migration, has no key and is found by its identity through `records_unkeyed`.
ALTER TABLE records ADD COLUMN rkey BIGINT;
CREATE UNIQUE INDEX records_key ON records (rkey);
CREATE UNIQUE INDEX records_unkeyed ON records (connection_id, model, remote_id) WHERE rkey IS NULL;
ALTER TABLE records DROP CONSTRAINT records_pkey;
-- The change feed is read one model at a time, and so are the records a full pass did not see: the
-- feed's index leads with the model (the primary key's did, for the latter).
DROP INDEX records_feed;
CREATE UNIQUE INDEX records_feed ON records (connection_id, model, seq);
