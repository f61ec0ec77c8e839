-- The type of each key's most recently written value, so that the UI can
-- pick a panel: 'number', 'string', 'bool', a JSON object's "_type" (media,
-- histograms) or 'json'. Ingest keeps it current per run (run_keys) and per
-- project (metric_keys).
ALTER TABLE metric_keys ADD COLUMN type TEXT NOT NULL DEFAULT 'number';
ALTER TABLE run_keys ADD COLUMN type TEXT NOT NULL DEFAULT 'number';

-- Backfill from the value rows. Write order was not recorded before, so the
-- value at the highest step stands for the most recent one, unless numeric
-- chunks reach past it.
UPDATE run_keys SET type = t.type FROM (
    SELECT run_id, key_id, max(step) AS step,
        CASE kind
            WHEN 1 THEN 'string'
            WHEN 2 THEN 'bool'
            ELSE coalesce(CASE WHEN json_valid(txt) AND json_type(txt, '$._type') = 'text' AND json_extract(txt, '$._type') != ''
                THEN json_extract(txt, '$._type') END, 'json')
        END AS type
    FROM history WHERE kind IN (1, 2, 3) GROUP BY run_id, key_id
) AS t
WHERE run_keys.run_id = t.run_id AND run_keys.key_id = t.key_id
    AND NOT EXISTS (SELECT 1 FROM hist_chunks c WHERE c.run_id = t.run_id AND c.key_id = t.key_id AND c.max_step > t.step);

-- A project's key takes the type it has in the most recently updated run.
UPDATE metric_keys SET type = t.type FROM (
    SELECT rk.key_id, rk.type, max(r.updated_at) FROM run_keys rk JOIN runs r ON r.id = rk.run_id GROUP BY rk.key_id
) AS t
WHERE metric_keys.id = t.key_id;
