-- Records keep their JSON as bytes: zstd-compressed text, or the text as it is (see the store's
-- `packed` module). Rows written before keep jsonb's text form of their values; new rows keep the
-- text that was written (for raw: Business Central's bytes) and skip jsonb's parsing. Rewrites the
-- table once, under an exclusive lock: every ledgerlink process of an older version must be
-- stopped first (README, "Upgrading").
ALTER TABLE records
    ALTER COLUMN data TYPE BYTEA USING convert_to(data::text, 'UTF8'),
    ALTER COLUMN raw TYPE BYTEA USING convert_to(raw::text, 'UTF8');
-- Already compressed: kept out of line when large, without TOAST trying pglz on it again.
ALTER TABLE records
    ALTER COLUMN data SET STORAGE EXTERNAL,
    ALTER COLUMN raw SET STORAGE EXTERNAL;
