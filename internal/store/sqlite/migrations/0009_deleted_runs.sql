-- Runs deleted (store.Runs.DeleteRun): who deleted which, when. A deleted
-- run's rows are gone from every other table; its id stays here so that no
-- later run is given it (caches and in-flight requests know runs by id).
CREATE TABLE deleted_runs (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    deleted_at  INTEGER NOT NULL,
    deleted_by  INTEGER NOT NULL
);

-- Whether another file still uses a blob, when a run is deleted.
CREATE INDEX files_blob ON files (blob_key);
