-- +goose Up
-- The head carries a MAC under the audit key over (seq, hash), so a head
-- rewritten without the key (after deleting the newest entries, say) is
-- detected. The store seals the existing head right after this migration.
ALTER TABLE audit_head ADD COLUMN mac TEXT NOT NULL DEFAULT '';

-- Only the append path may change the log: an entry must extend the head,
-- and the head only advances to the entry just inserted (or, once, gets its
-- MAC). Rows are locked in the append path (SELECT … FOR UPDATE on the
-- head), so the head these triggers read is the one being advanced.
-- +goose StatementBegin
CREATE FUNCTION audit_log_extends_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    h audit_head%ROWTYPE;
BEGIN
    SELECT * INTO h FROM audit_head WHERE id = 1;
    IF NOT FOUND OR NEW.seq IS DISTINCT FROM h.seq + 1 OR NEW.prev_hash IS DISTINCT FROM h.hash THEN
        RAISE EXCEPTION 'audit_log is append-only: a new entry must extend the head';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_extends_head BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_extends_head();

-- +goose StatementBegin
CREATE FUNCTION audit_head_advance_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = OLD.id AND NEW.seq = OLD.seq + 1 AND EXISTS (
        SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash AND prev_hash = OLD.hash) THEN
        RETURN NEW; -- the append path
    END IF;
    IF OLD.mac = '' AND NEW.id = OLD.id AND NEW.seq = OLD.seq AND NEW.hash = OLD.hash THEN
        RETURN NEW; -- sealing the head after this migration
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: audit_head only advances to the entry just appended';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_head_advance_only BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_advance_only();

-- +goose StatementBegin
CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse();
CREATE TRIGGER audit_head_no_change BEFORE INSERT OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_refuse();

-- +goose Down
DROP TRIGGER audit_head_no_change ON audit_head;
DROP TRIGGER audit_head_no_truncate ON audit_head;
DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP FUNCTION audit_refuse;
DROP TRIGGER audit_head_advance_only ON audit_head;
DROP FUNCTION audit_head_advance_only;
DROP TRIGGER audit_log_extends_head ON audit_log;
DROP FUNCTION audit_log_extends_head;
ALTER TABLE audit_head DROP COLUMN mac;
