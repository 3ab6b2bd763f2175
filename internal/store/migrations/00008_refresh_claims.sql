-- refresh_claims spreads the scheduled refreshes of many shops over every
-- replica that serves them, computing each due shop once. A replica that
-- finds a shop due in its pass claims it first: in one short transaction
-- it locks the shop's row FOR UPDATE SKIP LOCKED (a replica that meets a
-- locked row moves on to the next shop rather than wait), checks that no
-- live claim holds it, reads the shop's state again under the lock, and
-- records its claim only while the shop is still due. It keeps the claim
-- alive while the run goes on (lease_until moves forward) and clears it
-- once the run has recorded its end, so a replica that claims the shop
-- afterwards reads the new state and finds it no longer due. A replica
-- that dies mid-run leaves a claim that lapses at lease_until.
--
-- The claim sits beside the compute lock (a per-shop advisory lock that
-- BeginRun takes), which still keeps runs of one shop from overlapping,
-- whoever starts them: claims only decide which replica runs a due shop.
--
-- Every key leads with shop_id, the distribution column of a distributed
-- Postgres (Citus, docs/SCALING.md), which accepts a primary or unique key
-- only when it holds that column: the claim and the state it reads
-- (feature_changes, feature_runs) route to the shop's shard. The primary
-- keys of feature_runs and feature_changes, their identity ids, become
-- (shop_id, id); the ids stay unique on their own, and every query that
-- names a row by id names its shop too. interaction_features keeps its
-- identity key, which no query uses, beside its real key, the pair key
-- (shop_id, customer_id, product_id): docs/SCALING.md drops it before
-- distributing the table. Made (shop_id, id), it would be an index on
-- shop_id that the planner, without statistics of a new shop, prefers to
-- the pair key for online reads.

-- +goose Up
CREATE TABLE refresh_claims (
    shop_id     text COLLATE "C" PRIMARY KEY,
    claimed_by  text,
    claimed_at  timestamptz,
    lease_until timestamptz
);

ALTER TABLE feature_runs DROP CONSTRAINT feature_runs_pkey, ADD PRIMARY KEY (shop_id, id);
ALTER TABLE feature_changes DROP CONSTRAINT feature_changes_pkey, ADD PRIMARY KEY (shop_id, id);

-- +goose Down
ALTER TABLE feature_changes DROP CONSTRAINT feature_changes_pkey, ADD PRIMARY KEY (id);
ALTER TABLE feature_runs DROP CONSTRAINT feature_runs_pkey, ADD PRIMARY KEY (id);
DROP TABLE IF EXISTS refresh_claims;
