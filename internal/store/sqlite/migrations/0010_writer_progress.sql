-- How far each writer of a run got: the points it had logged (spooled on
-- its machine) as of its last batch, and the points of its batches the
-- server has answered. The run's totals are kept on runs, so the runs
-- table reads them for free.
CREATE TABLE writer_progress (
    run_id    INTEGER NOT NULL,
    writer    TEXT NOT NULL,
    logged    INTEGER NOT NULL,
    received  INTEGER NOT NULL,
    PRIMARY KEY (run_id, writer)
) WITHOUT ROWID;

ALTER TABLE runs ADD COLUMN points_logged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN points_received INTEGER NOT NULL DEFAULT 0;
