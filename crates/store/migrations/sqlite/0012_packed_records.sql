-- Records keep their JSON as bytes from now on: zstd-compressed text (a BLOB), or the text as it is
-- (see the store's `packed` module). Rows written before hold their JSON as TEXT and read as they
-- are, so nothing is rewritten here (SQLite columns take either).
SELECT 1;
