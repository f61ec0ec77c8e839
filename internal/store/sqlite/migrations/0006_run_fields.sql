-- Every config path and summary key a project's runs have been given, for
-- the runs table's columns and the group-by list before every run is
-- loaded. Kept in the transaction that writes a run's config or summary
-- (fields.go); only ever added to, so a deleted key may stay listed.
-- Listing it reads one index range (0.85 ms at 10k runs of 50 config and
-- 20 summary keys; json_tree over the configs took 283 ms: docs/api.md).
CREATE TABLE run_fields (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    kind       TEXT NOT NULL, -- 'config' or 'summary'
    path       TEXT NOT NULL,
    PRIMARY KEY (project_id, kind, path)
) WITHOUT ROWID;

-- Backfill: the leaves of each config as store.ConfigPaths names them
-- (keys joined with unquoted dots; an object with "_type", an array or a
-- scalar is a leaf; an empty object has none), and every summary key.
WITH RECURSIVE node(project_id, path, value, type) AS (
    SELECT r.project_id, j.key, j.value, j.type FROM runs r, json_each(r.config) j
    UNION ALL
    SELECT n.project_id, n.path || '.' || j.key, j.value, j.type
    FROM node n, json_each(n.value) j
    WHERE n.type = 'object' AND json_type(n.value, '$._type') IS NULL
)
INSERT OR IGNORE INTO run_fields (project_id, kind, path)
SELECT DISTINCT project_id, 'config', path FROM node
WHERE type != 'object' OR json_type(value, '$._type') IS NOT NULL;

INSERT OR IGNORE INTO run_fields (project_id, kind, path)
SELECT DISTINCT r.project_id, 'summary', j.key FROM runs r, json_each(r.summary) j
WHERE j.type != 'null';
