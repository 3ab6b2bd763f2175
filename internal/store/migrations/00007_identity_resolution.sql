-- Identity resolution (FEATURES.md 1.4): most storefront rows carry an
-- anonymous visitor id (the Shopify web pixel's clientId) and no customer.
-- A client's first linking row, a row with both ids, names the customer its
-- anonymous rows belong to.

-- +goose Up
-- client_id is the anonymous visitor id; metadata keeps what a storefront
-- sends beside the columns the kernel reads (variant, quantity, price of
-- cart and checkout events, a search's query), for later features. Both
-- are added only when absent, like the input tables themselves.
ALTER TABLE user_interactions
    ADD COLUMN IF NOT EXISTS client_id varchar(255),
    ADD COLUMN IF NOT EXISTS metadata  jsonb;

-- The scan finds each client's link, its first linking row by (created_at,
-- id), by walking this index in order; customer_id rides along so that the
-- walk never visits the table. Only linking rows are in it, so a shop that
-- sends no client ids adds nothing to it.
CREATE INDEX IF NOT EXISTS user_interactions_client_link_idx ON user_interactions
    (shop_id, client_id COLLATE "C", created_at, id COLLATE "C") INCLUDE (customer_id)
    WHERE client_id <> '' AND customer_id <> '';

-- The anonymous rows of a client, which the scan attributes to the client's
-- link. A shop without them has no entry here, and one probe of this index
-- tells the scan that it can read the shop as it always did.
CREATE INDEX IF NOT EXISTS user_interactions_client_anonymous_idx ON user_interactions
    (shop_id, client_id COLLATE "C")
    WHERE client_id <> '' AND (customer_id IS NULL OR customer_id = '');

-- An anonymous row's pair depends on its client's link, and a new first
-- linking row moves every row of its client to another pair: the change
-- log gets a sixth kind of change for them (see 00002 for the other five):
--   client   (client_ids, product_ids, customer_ids): the anonymous rows of
--            those clients changed, or their link may have. A product names
--            the client's rows of that product; none (NULL) names all of
--            them. A customer is one the client's link may have named before
--            the change (an old linking row, gone or changed since).
-- A run resolves a client into pairs when it reads the log: every customer
-- a linking row of the client names (its link at any as_of, the previous
-- run's and this run's among them) and the customer the change names,
-- with the product, or with every product of the client's anonymous rows
-- and of those customers' stored rows (rows whose inputs may all be gone).
ALTER TABLE feature_changes ADD COLUMN client_ids text[];
ALTER TABLE feature_changes DROP CONSTRAINT feature_changes_kind_check, ADD CONSTRAINT feature_changes_kind_check CHECK (
    (kind = 'pair' AND customer_ids IS NOT NULL AND product_ids IS NOT NULL) OR
    (kind = 'customer' AND customer_ids IS NOT NULL) OR
    (kind = 'order' AND order_ids IS NOT NULL AND customer_ids IS NOT NULL) OR
    (kind = 'line' AND order_ids IS NOT NULL AND product_ids IS NOT NULL) OR
    (kind = 'product' AND product_ids IS NOT NULL) OR
    (kind = 'client' AND client_ids IS NOT NULL));

-- +goose StatementBegin
-- featurestore_log_clients_sql returns the statement that logs the client
-- changes a query selects as (shop_id, client_id, product_id, customer_id):
-- one log row per shop, the keys in parallel arrays that keep their NULLs.
CREATE FUNCTION featurestore_log_clients_sql(keys text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($q$
        INSERT INTO feature_changes (shop_id, kind, client_ids, product_ids, customer_ids)
        SELECT shop_id, 'client', array_agg(client_id), array_agg(product_id), array_agg(customer_id)
          FROM (%s) AS k(shop_id, client_id, product_id, customer_id)
         GROUP BY shop_id$q$, keys)
$$;
-- +goose StatementEnd

-- The interactions trigger logs, beside the pairs of identified rows as
-- before, the clients of the rows identity resolution reads: an anonymous
-- row names its client and product; a linking row names its client and
-- customer, but only when no linking row of the client in the table comes
-- before it, since only a first linking row is a link (a later one, as
-- every event of a logged-in visitor is, changes nothing). The table the
-- trigger reads holds the statement's writes: a new row that is first is
-- the client's link now, and an old one (deleted, or before an update) that
-- nothing precedes may have been. Only a client's earliest row of the
-- statement needs the check: if it is not first, none of the others is.
-- The check is one probe of the link index per client (LATERAL ... LIMIT 1,
-- which the planner cannot turn into a join that reads the whole table). A
-- concurrent writer's rows are not visible, so a row may be logged that
-- turns out not to be first, never the reverse. A bulk statement
-- (featurestore.bulk_events) names each client once, with the customers of
-- its linking rows, without checking which come first.

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION featurestore_log_interactions() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    v record;
    bulk bigint := coalesce(nullif(current_setting('featurestore.bulk_events', true), '')::bigint, 100000);
BEGIN
    FOR v IN SELECT * FROM featurestore_changed_versions(TG_OP, ARRAY['shop_id', 'customer_id', 'client_id', 'product_id',
            'event_type', 'page_type', 'device_type', 'referrer_type', 'view_duration', 'created_at']) LOOP
        EXECUTE featurestore_log_sql(format($q$
            WITH used AS NOT MATERIALIZED (
                SELECT shop_id::text, customer_id::text, product_id::text FROM %s r
                 WHERE shop_id <> '' AND customer_id <> '' AND product_id <> '' AND created_at IS NOT NULL
            ), customers AS (
                SELECT shop_id, customer_id, count(*) AS events FROM used GROUP BY shop_id, customer_id
            ), bulk AS (
                SELECT coalesce(sum(events), 0) > %s AS yes FROM customers
            )
            SELECT shop_id, 'customer', customer_id, NULL, NULL FROM customers WHERE (SELECT yes FROM bulk)
            UNION ALL
            SELECT DISTINCT shop_id, 'pair', customer_id, product_id, NULL FROM used WHERE NOT (SELECT yes FROM bulk)$q$,
            v.source, bulk));
        EXECUTE featurestore_log_clients_sql(format($q$
            WITH anonymous AS NOT MATERIALIZED (
                SELECT shop_id::text, client_id::text, product_id::text FROM %1$s r
                 WHERE shop_id <> '' AND client_id <> '' AND (customer_id IS NULL OR customer_id = '')
                   AND product_id <> '' AND created_at IS NOT NULL
            ), linking AS NOT MATERIALIZED (
                SELECT shop_id::text, client_id::text, customer_id::text, created_at, id::text FROM %1$s r
                 WHERE shop_id <> '' AND client_id <> '' AND customer_id <> '' AND created_at IS NOT NULL
            ), bulk AS (
                SELECT (SELECT count(*) FROM anonymous) + (SELECT count(*) FROM linking) > %2$s AS yes
            ), earliest AS (
                SELECT DISTINCT ON (shop_id, client_id) shop_id, client_id, customer_id, created_at, id
                  FROM linking WHERE NOT (SELECT yes FROM bulk)
                 ORDER BY shop_id, client_id, created_at, id COLLATE "C"
            )
            SELECT DISTINCT shop_id, client_id, NULL::text, NULL::text FROM anonymous WHERE (SELECT yes FROM bulk)
            UNION
            SELECT DISTINCT shop_id, client_id, NULL, customer_id FROM linking WHERE (SELECT yes FROM bulk)
            UNION ALL
            SELECT DISTINCT shop_id, client_id, product_id, NULL FROM anonymous WHERE NOT (SELECT yes FROM bulk)
            UNION ALL
            SELECT e.shop_id, e.client_id, NULL, e.customer_id
              FROM earliest e LEFT JOIN LATERAL (
                  SELECT u.created_at, u.id::text AS id FROM user_interactions u
                   WHERE u.shop_id = e.shop_id AND u.client_id COLLATE "C" = e.client_id
                     AND u.client_id <> '' AND u.customer_id <> ''
                   ORDER BY u.created_at, u.id COLLATE "C" LIMIT 1) f ON true
             WHERE f.id IS NULL OR (f.created_at, f.id COLLATE "C") >= (e.created_at, e.id COLLATE "C")$q$,
            v.source, bulk));
    END LOOP;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION featurestore_log_interactions() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    v record;
    bulk bigint := coalesce(nullif(current_setting('featurestore.bulk_events', true), '')::bigint, 100000);
BEGIN
    FOR v IN SELECT * FROM featurestore_changed_versions(TG_OP, ARRAY['shop_id', 'customer_id', 'product_id',
            'event_type', 'page_type', 'device_type', 'referrer_type', 'view_duration', 'created_at']) LOOP
        EXECUTE featurestore_log_sql(format($q$
            WITH used AS NOT MATERIALIZED (
                SELECT shop_id::text, customer_id::text, product_id::text FROM %s r
                 WHERE shop_id <> '' AND customer_id <> '' AND product_id <> '' AND created_at IS NOT NULL
            ), customers AS (
                SELECT shop_id, customer_id, count(*) AS events FROM used GROUP BY shop_id, customer_id
            ), bulk AS (
                SELECT coalesce(sum(events), 0) > %s AS yes FROM customers
            )
            SELECT shop_id, 'customer', customer_id, NULL, NULL FROM customers WHERE (SELECT yes FROM bulk)
            UNION ALL
            SELECT DISTINCT shop_id, 'pair', customer_id, product_id, NULL FROM used WHERE NOT (SELECT yes FROM bulk)$q$,
            v.source, bulk));
    END LOOP;
    RETURN NULL;
END $$;
-- +goose StatementEnd
DROP FUNCTION IF EXISTS featurestore_log_clients_sql(text);
-- Client changes name no pair a run without identity resolution could
-- read: they go with the column that holds them.
DELETE FROM feature_changes WHERE kind = 'client';
ALTER TABLE feature_changes DROP CONSTRAINT feature_changes_kind_check, ADD CONSTRAINT feature_changes_kind_check CHECK (
    (kind = 'pair' AND customer_ids IS NOT NULL AND product_ids IS NOT NULL) OR
    (kind = 'customer' AND customer_ids IS NOT NULL) OR
    (kind = 'order' AND order_ids IS NOT NULL AND customer_ids IS NOT NULL) OR
    (kind = 'line' AND order_ids IS NOT NULL AND product_ids IS NOT NULL) OR
    (kind = 'product' AND product_ids IS NOT NULL));
ALTER TABLE feature_changes DROP COLUMN IF EXISTS client_ids;
DROP INDEX IF EXISTS user_interactions_client_anonymous_idx;
DROP INDEX IF EXISTS user_interactions_client_link_idx;
-- The columns stay: they hold a shop's data, and may be a shop sync's own.
