-- feature_changes is the change log that INCREMENTAL runs read: every write
-- to an input table, by featurestore or by any other writer, logs what it
-- changed through the statement-level triggers below, in the writer's own
-- transaction. A statement logs one row per shop and kind of change, the
-- changed keys in parallel arrays, so that logging costs the writer one
-- aggregation and one short insert per statement, not an index entry per
-- changed pair: a COPY of millions of events is one INSERT ... SELECT.
--
-- A row names what changed in one of five kinds (the arrays it fills):
--   pair     (customer_ids, product_ids): those pairs' inputs changed.
--   customer (customer_ids): events of those customers changed, in a
--            statement too large to sort out its pairs (see
--            featurestore_log_interactions); a customer's pairs are those of
--            its events and of its stored rows.
--   order    (order_ids, customer_ids): those orders of those customers
--            changed; their pairs are the customer with each product of the
--            order's lines.
--   line     (order_ids, product_ids): lines changed; their pairs are each
--            customer holding the order with the line's product.
--   product  (product_ids): products' prices changed; their pairs are those
--            of the product's lines that have no price of their own.
-- A run resolves customer, order, line and product changes into pairs when
-- it reads the log, in a snapshot that holds the logged write. That is what
-- makes the log complete when an order and its lines arrive in concurrent
-- transactions: neither trigger sees the other's rows, but whichever commits
-- last is resolved by a run that sees both. Old row versions (deleted, or
-- before an update) of orders and lines are also resolved into pairs at
-- once, as the writer sees them: after the statement the rows they joined
-- may be gone, and a concurrent writer may have added a line the writer
-- could not see, which the run's resolution of the order finds.
--
-- A run copies the shop's rows visible when it starts, before its scan, and
-- deletes exactly those in the transaction that records its success, so a
-- change that commits during a run stays for the next, and a failed run
-- leaves every change it saw to the next one.

-- +goose Up
CREATE TABLE feature_changes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id      text NOT NULL,
    kind         text NOT NULL,
    customer_ids text[],
    product_ids  text[],
    order_ids    text[],
    logged_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feature_changes_kind_check CHECK (
        (kind = 'pair' AND customer_ids IS NOT NULL AND product_ids IS NOT NULL) OR
        (kind = 'customer' AND customer_ids IS NOT NULL) OR
        (kind = 'order' AND order_ids IS NOT NULL AND customer_ids IS NOT NULL) OR
        (kind = 'line' AND order_ids IS NOT NULL AND product_ids IS NOT NULL) OR
        (kind = 'product' AND product_ids IS NOT NULL))
);

-- Runs read one shop's log; the scheduler skips from shop to shop. The ids
-- keep the database's collation, like the input tables they join; runs sort
-- pairs in "C" where they must.
CREATE INDEX feature_changes_shop_idx ON feature_changes (shop_id);

-- A price change is resolved through the product's lines without a price.
CREATE INDEX IF NOT EXISTS line_item_data_shop_product_unpriced_idx ON line_item_data (shop_id, product_id)
    WHERE price IS NULL;

-- feature_runs remembers what each run covered, so that an INCREMENTAL run
-- can tell whether a FULL run of the whole shop with the current formulas
-- ever set the base it builds on (runs recorded before this migration have
-- no features_version, and so do not count).
ALTER TABLE feature_runs
    ADD COLUMN features_version integer,
    ADD COLUMN customer_count   integer NOT NULL DEFAULT 0;

-- +goose StatementBegin
-- featurestore_changed_versions returns the row versions a statement trigger
-- must log, as relations to select from, and whether they are old versions.
-- For an UPDATE only rows whose columns named in cols changed count, so a
-- sync that rewrites unchanged rows logs nothing; a row whose id changed is
-- both an old and a new version.
CREATE FUNCTION featurestore_changed_versions(op text, cols text[], OUT source text, OUT old boolean)
RETURNS SETOF record LANGUAGE sql IMMUTABLE AS $$
    WITH cmp AS (
        SELECT (SELECT string_agg(format('o.%I', c), ', ') FROM unnest(cols) c) AS o,
               (SELECT string_agg(format('n.%I', c), ', ') FROM unnest(cols) c) AS n
    )
    SELECT 'new_rows', false WHERE op = 'INSERT'
    UNION ALL
    SELECT 'old_rows', true WHERE op = 'DELETE'
    UNION ALL
    SELECT format('(SELECT n.* FROM new_rows n WHERE NOT EXISTS (SELECT FROM old_rows o WHERE o.id = n.id AND (%s) IS NOT DISTINCT FROM (%s)))', cmp.o, cmp.n), false
      FROM cmp WHERE op = 'UPDATE'
    UNION ALL
    SELECT format('(SELECT o.* FROM old_rows o WHERE NOT EXISTS (SELECT FROM new_rows n WHERE n.id = o.id AND (%s) IS NOT DISTINCT FROM (%s)))', cmp.o, cmp.n), true
      FROM cmp WHERE op = 'UPDATE'
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- featurestore_log_sql returns the statement that logs the changed keys a
-- query selects as (shop_id, kind, customer_id, product_id, order_id): one
-- log row per shop and kind, each key column gathered into an array in the
-- same order (a column a kind does not use stays NULL).
CREATE FUNCTION featurestore_log_sql(keys text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format($q$
        INSERT INTO feature_changes (shop_id, kind, customer_ids, product_ids, order_ids)
        SELECT shop_id, kind, array_agg(customer_id) FILTER (WHERE customer_id IS NOT NULL),
               array_agg(product_id) FILTER (WHERE product_id IS NOT NULL),
               array_agg(order_id) FILTER (WHERE order_id IS NOT NULL)
          FROM (%s) AS k(shop_id, kind, customer_id, product_id, order_id)
         GROUP BY shop_id, kind$q$, keys)
$$;
-- +goose StatementEnd

-- The trigger functions run their queries with EXECUTE because a statement
-- trigger's transition tables are named in the trigger, and one query text
-- serves the new rows of an INSERT, the old rows of a DELETE and the changed
-- rows of an UPDATE. The conditions repeat the scan's (internal/store/scan.go):
-- a row the scan never reads changes no pair.
--
-- An event names its pair. A statement that writes more events than
-- featurestore.bulk_events (default 100,000: a bulk load or a backfill)
-- names their customers instead: sorting out millions of distinct pairs in
-- the writer's transaction would cost it about a third as much again as the
-- write itself, and a run resolves a customer into its pairs with one index
-- read. Counting by customer fits in memory; the functions' work_mem lets
-- the planner hash rather than sort, whatever it guesses of the statement's
-- size.

-- +goose StatementBegin
CREATE FUNCTION featurestore_log_interactions() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
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

-- +goose StatementBegin
CREATE FUNCTION featurestore_log_orders() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM featurestore_changed_versions(TG_OP, ARRAY['shop_id', 'order_id', 'customer_id', 'created_at']) LOOP
        EXECUTE featurestore_log_sql(format($q$
            SELECT DISTINCT shop_id::text, 'order', customer_id::text, NULL, order_id::text FROM %s r
             WHERE shop_id <> '' AND customer_id <> '' AND order_id <> '' AND created_at IS NOT NULL$q$, v.source));
        IF v.old THEN
            EXECUTE featurestore_log_sql(format($q$
                SELECT DISTINCT r.shop_id::text, 'pair', r.customer_id::text, li.product_id::text, NULL FROM %s r
                  JOIN line_item_data li ON li.shop_id = r.shop_id AND li.order_id = r.order_id
                 WHERE r.shop_id <> '' AND r.customer_id <> '' AND r.created_at IS NOT NULL AND li.product_id <> ''$q$, v.source));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION featurestore_log_line_items() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM featurestore_changed_versions(TG_OP, ARRAY['shop_id', 'order_id', 'product_id', 'quantity', 'price']) LOOP
        EXECUTE featurestore_log_sql(format($q$
            SELECT DISTINCT shop_id::text, 'line', NULL, product_id::text, order_id::text FROM %s r
             WHERE shop_id <> '' AND order_id <> '' AND product_id <> ''$q$, v.source));
        IF v.old THEN
            EXECUTE featurestore_log_sql(format($q$
                SELECT DISTINCT r.shop_id::text, 'pair', o.customer_id::text, r.product_id::text, NULL FROM %s r
                  JOIN order_data o ON o.shop_id = r.shop_id AND o.order_id = r.order_id
                 WHERE r.shop_id <> '' AND r.product_id <> '' AND o.customer_id <> '' AND o.created_at IS NOT NULL$q$, v.source));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- A product's rows matter only through the price its unpriced lines fall
-- back to (the first row by id), so any change of the columns that choose
-- or hold that price logs the product. Resolving it when the log is read is
-- enough even for a deleted product: its lines and orders are still there,
-- or their own changes logged their pairs.

-- +goose StatementBegin
CREATE FUNCTION featurestore_log_products() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM featurestore_changed_versions(TG_OP, ARRAY['shop_id', 'product_id', 'price']) LOOP
        EXECUTE featurestore_log_sql(format($q$
            SELECT DISTINCT shop_id::text, 'product', NULL, product_id::text, NULL FROM %s r
             WHERE shop_id <> '' AND product_id <> ''$q$, v.source));
    END LOOP;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Postgres allows transition tables only on triggers of a single event,
-- hence three triggers per table.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
            ('user_interactions', 'featurestore_log_interactions'), ('order_data', 'featurestore_log_orders'),
            ('line_item_data', 'featurestore_log_line_items'), ('product_data', 'featurestore_log_products')) AS t(tab, fn) LOOP
        EXECUTE format('CREATE TRIGGER featurestore_log_insert AFTER INSERT ON %I
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()', t.tab, t.fn);
        EXECUTE format('CREATE TRIGGER featurestore_log_update AFTER UPDATE ON %I
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()', t.tab, t.fn);
        EXECUTE format('CREATE TRIGGER featurestore_log_delete AFTER DELETE ON %I
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION %I()', t.tab, t.fn);
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
-- Dropping the trigger functions drops their triggers.
DROP FUNCTION IF EXISTS featurestore_log_interactions() CASCADE;
DROP FUNCTION IF EXISTS featurestore_log_orders() CASCADE;
DROP FUNCTION IF EXISTS featurestore_log_line_items() CASCADE;
DROP FUNCTION IF EXISTS featurestore_log_products() CASCADE;
DROP FUNCTION IF EXISTS featurestore_changed_versions(text, text[]);
DROP FUNCTION IF EXISTS featurestore_log_sql(text);
ALTER TABLE feature_runs DROP COLUMN IF EXISTS features_version, DROP COLUMN IF EXISTS customer_count;
DROP INDEX IF EXISTS line_item_data_shop_product_unpriced_idx;
DROP TABLE IF EXISTS feature_changes;
