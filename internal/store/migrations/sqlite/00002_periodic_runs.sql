-- +goose Up
-- One row per schedule slot of a periodic job (digest, expiry sweep). The
-- row is the claim that keeps a slot from running twice across replicas and
-- restarts; finished rows tell the next run where the last one ended.
CREATE TABLE periodic_runs (
    name        TEXT    NOT NULL,
    slot        INTEGER NOT NULL,            -- Unix microseconds
    state       TEXT    NOT NULL,            -- running, done, failed
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    detail      TEXT    NOT NULL DEFAULT '', -- why it failed
    PRIMARY KEY (name, slot)
);

-- +goose Down
DROP TABLE periodic_runs;
