-- Where a writer's steps start, for a writer that resumed a run without
-- knowing its last step (offline, or the server unreachable at init): its
-- steps are stored after the run's last step as it was when the writer's
-- create op arrived (store.RunSpec.StepsAfterLast).
CREATE TABLE writer_bases (
    run_id  INTEGER NOT NULL,
    writer  TEXT NOT NULL,
    base    INTEGER NOT NULL,
    PRIMARY KEY (run_id, writer)
) WITHOUT ROWID;
