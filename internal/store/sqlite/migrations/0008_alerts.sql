-- Alerts a run raised (the SDK's alert(), wandb's notifyScriptableRunAlert).
-- suppressed: another alert with the same title was delivered less than
-- wait_ms before this one, so this one was stored but not sent on.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL,
    time        REAL NOT NULL,
    title       TEXT NOT NULL,
    text        TEXT NOT NULL,
    level       TEXT NOT NULL,
    wait_ms     INTEGER NOT NULL,
    suppressed  INTEGER NOT NULL
);
CREATE INDEX alerts_run_title ON alerts (run_id, title, time);
CREATE INDEX alerts_run ON alerts (run_id, id);
