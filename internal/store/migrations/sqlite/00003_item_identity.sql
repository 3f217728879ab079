-- +goose Up
-- The identity each item resolved to when its request was filed (JSON:
-- provider id, account ids, addresses). The request's hash covers it and
-- execution acts only on the same identity. Items filed before this column
-- existed have '{}' (no identity) and are never acted on.
ALTER TABLE items ADD COLUMN identity TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE items DROP COLUMN identity;
