-- A run over a list of pairs (an INCREMENTAL run) resolves identities for
-- those pairs only (FEATURES.md 1.4). Two lookups made that cost about as
-- much as reading the whole shop when the pairs touch a third of the
-- shop's customers, as 1% of its pairs do:
--   - the clients that may be linked to a customer were found by reading
--     every row of the customer (the pair-scan index holds no client id, so
--     each row is a visit to the table), and
--   - the anonymous rows of a client were all read, then matched against
--     the pair list, where only the listed products' are needed.

-- +goose Up
-- The clients whose linking rows name a customer. Equal keys share one
-- index entry (btree deduplication), so the index holds about one entry
-- per (customer, client) and stays small; a run walks it from one client
-- to the next, a probe each, without visiting the table. Only linking rows
-- are in it, as in user_interactions_client_link_idx.
CREATE INDEX IF NOT EXISTS user_interactions_customer_client_idx ON user_interactions
    (shop_id, customer_id COLLATE "C", client_id COLLATE "C")
    WHERE client_id <> '' AND customer_id <> '';

-- The anonymous rows of a client, now also of a client and one product:
-- the same rows as before, with the product beside the client in the key.
-- A probe by client alone (a whole-shop run) reads the index as it did.
DROP INDEX IF EXISTS user_interactions_client_anonymous_idx;
CREATE INDEX user_interactions_client_anonymous_idx ON user_interactions
    (shop_id, client_id COLLATE "C", product_id COLLATE "C")
    WHERE client_id <> '' AND (customer_id IS NULL OR customer_id = '');

-- +goose Down
DROP INDEX IF EXISTS user_interactions_client_anonymous_idx;
CREATE INDEX user_interactions_client_anonymous_idx ON user_interactions
    (shop_id, client_id COLLATE "C")
    WHERE client_id <> '' AND (customer_id IS NULL OR customer_id = '');
DROP INDEX IF EXISTS user_interactions_customer_client_idx;
