-- +goose Up
-- How far a completed periodic run got in something ordered, such as the
-- digest's audit sequence number, so that the next run starts exactly
-- there. NULL for runs made before it existed and for failed runs.
ALTER TABLE periodic_runs ADD COLUMN mark BIGINT;

-- +goose Down
ALTER TABLE periodic_runs DROP COLUMN mark;
