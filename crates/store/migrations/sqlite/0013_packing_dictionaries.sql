-- Records are compressed with the zstd dictionaries built into the binary from now on (see the
-- store's `packed` module). No table changes: this migration marks the database as holding such
-- rows, so that a binary from before, which cannot read them, refuses the database at start instead
-- of failing on those rows one feed page at a time.
SELECT 1;
