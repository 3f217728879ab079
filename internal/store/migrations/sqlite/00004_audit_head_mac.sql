-- +goose Up
-- The head carries a MAC under the audit key over (seq, hash), so a head
-- rewritten without the key (after deleting the newest entries, say) is
-- detected. The store seals the existing head right after this migration.
ALTER TABLE audit_head ADD COLUMN mac TEXT NOT NULL DEFAULT '';

-- Only the append path may change the log: an entry must extend the head,
-- and the head only advances to the entry just inserted (or, once, gets its
-- MAC). The BEFORE INSERT triggers also stop INSERT OR REPLACE, whose
-- deletions do not fire delete triggers. SQLite has no TRUNCATE; an
-- unqualified DELETE fires the delete triggers.
-- +goose StatementBegin
CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
  OR NEW.prev_hash IS NOT (SELECT hash FROM audit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: a new entry must extend the head');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_head_advance_only BEFORE UPDATE ON audit_head
WHEN NOT (
    (NEW.id = OLD.id AND NEW.seq = OLD.seq + 1
        AND EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash AND prev_hash = OLD.hash))
    OR (OLD.mac = '' AND NEW.id = OLD.id AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash)
)
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: audit_head only advances to the entry just appended');
END;
-- +goose StatementEnd
CREATE TRIGGER audit_head_no_insert BEFORE INSERT ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: audit_head has its one row'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: audit_head cannot be deleted'); END;

-- +goose Down
DROP TRIGGER audit_head_no_delete;
DROP TRIGGER audit_head_no_insert;
DROP TRIGGER audit_head_advance_only;
DROP TRIGGER audit_log_extends_head;
ALTER TABLE audit_head DROP COLUMN mac;
