-- +goose Up
-- Times are Unix microseconds (UTC); 0 means "not yet".
CREATE TABLE requests (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    action             TEXT    NOT NULL,
    provider           TEXT    NOT NULL,
    spec               TEXT    NOT NULL,
    hash               TEXT    NOT NULL,
    requester          TEXT    NOT NULL,
    requester_person   TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    phase              TEXT    NOT NULL DEFAULT '',
    approvals_required INTEGER NOT NULL,
    approvers          TEXT    NOT NULL,
    denial             TEXT    NOT NULL DEFAULT '',
    cancel             TEXT    NOT NULL DEFAULT '',
    note               TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    approved_at        INTEGER NOT NULL DEFAULT 0,
    finished_at        INTEGER NOT NULL DEFAULT 0,
    version            INTEGER NOT NULL DEFAULT 0,
    exec_fence         INTEGER NOT NULL DEFAULT 0,
    submit_step        INTEGER NOT NULL DEFAULT 0,
    inflight           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_state_expires ON requests (state, expires_at);
CREATE INDEX requests_created ON requests (created_at);
CREATE INDEX requests_updated ON requests (updated_at);

CREATE TABLE approvals (
    request_id INTEGER NOT NULL REFERENCES requests (id),
    person     TEXT    NOT NULL,
    pos        INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (request_id, person)
);

CREATE TABLE items (
    request_id INTEGER NOT NULL REFERENCES requests (id),
    idx        INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    display    TEXT    NOT NULL,
    before     TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    ref        TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, idx),
    UNIQUE (request_id, key)
);

CREATE TABLE submissions (
    request_id INTEGER NOT NULL REFERENCES requests (id),
    step       INTEGER NOT NULL,
    fence      INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (request_id, step)
);

CREATE TABLE messages (
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    platform    TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    message_id  TEXT    NOT NULL,
    thread_id   TEXT    NOT NULL DEFAULT '',
    progress_id TEXT    NOT NULL DEFAULT '',
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (request_id, platform)
);

CREATE TABLE seen (
    key        TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX seen_expires ON seen (expires_at);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    request_id INTEGER NOT NULL DEFAULT 0,
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_request ON audit_log (request_id, seq);

-- One row: the last sequence number and hash. Appenders lock it first, so
-- the chain is linear across connections and processes.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- The audit log is append-only: refuse updates and deletes.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE seen;
DROP TABLE messages;
DROP TABLE submissions;
DROP TABLE items;
DROP TABLE approvals;
DROP TABLE requests;
