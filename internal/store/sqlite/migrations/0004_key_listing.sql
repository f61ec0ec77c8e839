-- Key listings at a million keys: names come from the (project_id, name)
-- index alone, and the few keys that are not numbers from this partial
-- index, so that listing a project's keys never reads the table row of
-- every key.
CREATE INDEX metric_keys_typed ON metric_keys (project_id, name) WHERE type != 'number';
