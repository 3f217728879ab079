-- +goose Up
-- Times are Unix microseconds (UTC); 0 means "not yet".
CREATE TABLE requests (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    approved_at        BIGINT  NOT NULL DEFAULT 0,
    finished_at        BIGINT  NOT NULL DEFAULT 0,
    version            BIGINT  NOT NULL DEFAULT 0,
    exec_fence         BIGINT  NOT NULL DEFAULT 0,
    submit_step        INTEGER NOT NULL DEFAULT 0,
    inflight           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_state_expires ON requests (state, expires_at);
CREATE INDEX requests_created ON requests (created_at);
CREATE INDEX requests_updated ON requests (updated_at);

CREATE TABLE approvals (
    request_id BIGINT  NOT NULL REFERENCES requests (id),
    person     TEXT    NOT NULL,
    pos        INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    at         BIGINT  NOT NULL,
    PRIMARY KEY (request_id, person)
);

CREATE TABLE items (
    request_id BIGINT  NOT NULL REFERENCES requests (id),
    idx        INTEGER NOT NULL,
    key        TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    display    TEXT    NOT NULL,
    before     TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    ref        TEXT    NOT NULL DEFAULT '',
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (request_id, idx),
    UNIQUE (request_id, key)
);

CREATE TABLE submissions (
    request_id BIGINT  NOT NULL REFERENCES requests (id),
    step       INTEGER NOT NULL,
    fence      BIGINT  NOT NULL,
    body       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (request_id, step)
);

CREATE TABLE messages (
    request_id  BIGINT NOT NULL REFERENCES requests (id),
    platform    TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    message_id  TEXT   NOT NULL,
    thread_id   TEXT   NOT NULL DEFAULT '',
    progress_id TEXT   NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (request_id, platform)
);

CREATE TABLE seen (
    key        TEXT   PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX seen_expires ON seen (expires_at);

CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    at         BIGINT NOT NULL,
    request_id BIGINT NOT NULL DEFAULT 0,
    kind       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    detail     TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_request ON audit_log (request_id, seq);

-- One row: the last sequence number and hash. Appenders lock it first, so
-- the chain is linear across connections and processes.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- The audit log is append-only: refuse updates and deletes.
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only;
DROP TABLE seen;
DROP TABLE messages;
DROP TABLE submissions;
DROP TABLE items;
DROP TABLE approvals;
DROP TABLE requests;
