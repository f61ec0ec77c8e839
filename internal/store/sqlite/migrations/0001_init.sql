-- Fluoro's first schema. Times are unix milliseconds.
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    email       TEXT NOT NULL DEFAULT '',
    is_admin    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    hash         BLOB NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE entities (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    owner_user_id  INTEGER REFERENCES users(id),
    created_at     INTEGER NOT NULL
);

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (entity_id, name)
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    run_id        TEXT NOT NULL,
    name          TEXT NOT NULL,
    state         TEXT NOT NULL,
    user_id       INTEGER NOT NULL DEFAULT 0,
    config        BLOB NOT NULL DEFAULT (jsonb('{}')), -- SQLite JSONB: filters read it without parsing text
    summary       BLOB NOT NULL DEFAULT (jsonb('{}')),
    tags          TEXT NOT NULL DEFAULT '[]',
    run_group     TEXT NOT NULL DEFAULT '',
    job_type      TEXT NOT NULL DEFAULT '',
    notes         TEXT NOT NULL DEFAULT '',
    host          TEXT NOT NULL DEFAULT '',
    program       TEXT NOT NULL DEFAULT '',
    git           TEXT NOT NULL DEFAULT '{}',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL,
    finished_at   INTEGER,
    exit_code     INTEGER,
    last_step     INTEGER NOT NULL DEFAULT -1,
    points        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, run_id)
);
CREATE INDEX runs_project_created ON runs (project_id, created_at);

CREATE TABLE metric_keys (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE run_keys (
    run_id    INTEGER NOT NULL,
    key_id    INTEGER NOT NULL,
    points    INTEGER NOT NULL,
    min_step  INTEGER NOT NULL,
    max_step  INTEGER NOT NULL,
    PRIMARY KEY (run_id, key_id)
) WITHOUT ROWID;

-- kind: 0 number, 1 string, 2 bool, 3 json, 4 NaN (SQLite stores NaN as NULL).
CREATE TABLE history (
    run_id  INTEGER NOT NULL,
    key_id  INTEGER NOT NULL,
    step    INTEGER NOT NULL,
    wall    REAL NOT NULL,
    kind    INTEGER NOT NULL,
    num     REAL,
    txt     TEXT,
    PRIMARY KEY (run_id, key_id, step)
) WITHOUT ROWID;

CREATE TABLE console (
    id      INTEGER PRIMARY KEY,
    run_id  INTEGER NOT NULL,
    time    REAL NOT NULL,
    stream  TEXT NOT NULL,
    line    TEXT NOT NULL
);
CREATE INDEX console_run ON console (run_id, id);

CREATE TABLE system_samples (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL,
    time     REAL NOT NULL,
    metrics  TEXT NOT NULL
);
CREATE INDEX system_samples_run ON system_samples (run_id, id);

CREATE TABLE files (
    run_id        INTEGER NOT NULL,
    name          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    blob_key      TEXT NOT NULL,
    content_type  TEXT NOT NULL DEFAULT '',
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

-- One row per applied ingest batch: makes a retried batch a no-op.
CREATE TABLE ingest_batches (
    run_id  INTEGER NOT NULL,
    writer  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (run_id, writer, seq)
) WITHOUT ROWID;

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  BLOB NOT NULL
);
