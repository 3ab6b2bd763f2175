-- cache_marks is the record, shared by every process on the database, of
-- the Redis hashes that may hold vectors older than interaction_features:
-- those of customers whose write-through failed after their rows were
-- committed. A row names one customer of a shop, or, with customer_id '',
-- every customer of the shop (no id is empty). While a mark exists, every
-- replica reads those customers from Postgres; a background repair removes
-- their hashes from Redis, then the mark, and only if the mark's id is still
-- the one the repair began with: a failure recorded again meanwhile renews
-- the id and keeps the mark.
--
-- Replicas keep the marks in memory and read them again only when
-- cache_marks_version has moved: every change of cache_marks bumps it in
-- the same transaction, so a replica's poll is one single-row read while
-- nothing changes, and the version and the marks it reads always agree.
-- The version also numbers the marks' ids.
--
-- feature_runs.cache_pending is a run's intent: true from the run's start
-- until the run knows that each batch it committed was written through to
-- the cache or marked here. A process that dies in between leaves it set on a
-- run whose shop lock is gone (or on a run that ended unsettled), and any
-- replica then turns it into a mark of the whole shop. A run without a cache
-- never settles, so a run made without REDIS_URL still invalidates the shop's
-- cached hashes once it ends.
--
-- cache_marks leads with shop_id, the distribution column of a distributed
-- Postgres (Citus); cache_marks_version is a single row, a reference table.

-- +goose Up
CREATE TABLE cache_marks (
    shop_id     text NOT NULL,
    customer_id text NOT NULL,
    id          bigint NOT NULL,
    marked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, customer_id)
);

CREATE TABLE cache_marks_version (
    single  boolean PRIMARY KEY DEFAULT true CHECK (single),
    version bigint NOT NULL
);
INSERT INTO cache_marks_version (version) VALUES (0);

ALTER TABLE feature_runs ADD COLUMN cache_pending boolean NOT NULL DEFAULT false;

-- The replicas' poll looks for unsettled runs through this index, which
-- holds only them.
CREATE INDEX feature_runs_cache_pending_idx ON feature_runs (shop_id) WHERE cache_pending;

-- +goose Down
DROP INDEX IF EXISTS feature_runs_cache_pending_idx;
ALTER TABLE feature_runs DROP COLUMN IF EXISTS cache_pending;
DROP TABLE IF EXISTS cache_marks_version;
DROP TABLE IF EXISTS cache_marks;
