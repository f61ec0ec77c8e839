-- The history engine: numeric points land in hist_log (one row per batch and
-- run, committed with the batch), and a compactor moves them into compressed
-- per-series chunks with per-block summaries. Non-numeric values (strings,
-- booleans, media JSON) stay one row per point in `history`.
CREATE TABLE hist_log (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL,
    points   INTEGER NOT NULL,
    payload  BLOB NOT NULL
);
CREATE INDEX hist_log_run ON hist_log (run_id, id);

CREATE TABLE hist_chunks (
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
    sealed     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, key_id, min_step)
) WITHOUT ROWID;
CREATE INDEX hist_chunks_open ON hist_chunks (run_id) WHERE sealed = 0;
