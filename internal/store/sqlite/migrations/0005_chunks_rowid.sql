-- hist_chunks becomes a rowid table, its key in a separate index. As a
-- WITHOUT ROWID table its rows were its index entries, and SQLite reads a
-- whole entry, overflow pages included, to compare it with a bound: a range
-- scan read every chunk twice (once to test the range's end, once for its
-- columns), and seeks, inserts and deletes read the chunks they passed.
-- Keys alone in the index are a few bytes; a chunk is read once.
CREATE TABLE hist_chunks_new (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL,
    key_id     INTEGER NOT NULL,
    min_step   INTEGER NOT NULL,
    max_step   INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    -- summaries before data: a chart reads only the summaries, and SQLite
    -- would walk data's overflow pages to reach a column stored after it.
    summaries  BLOB NOT NULL,
    data       BLOB NOT NULL,
    -- 0 for an open tail chunk stored with the cheap encoding; the
    -- compactor re-encodes it compactly once its series goes quiet.
    sealed     INTEGER NOT NULL DEFAULT 1
);
INSERT INTO hist_chunks_new (run_id, key_id, min_step, max_step, count, summaries, data, sealed)
    SELECT run_id, key_id, min_step, max_step, count, summaries, data, sealed FROM hist_chunks
    ORDER BY run_id, key_id, min_step;
DROP TABLE hist_chunks;
ALTER TABLE hist_chunks_new RENAME TO hist_chunks;
CREATE UNIQUE INDEX hist_chunks_series ON hist_chunks (run_id, key_id, min_step);
CREATE INDEX hist_chunks_open ON hist_chunks (run_id) WHERE sealed = 0;
