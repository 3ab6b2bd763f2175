-- Ids are unique per shop, not across shops: shops are tenants, and two
-- shops whose backends both number their events 1, 2, 3 must both keep them,
-- and one shop must not be able to make another's event a duplicate by
-- storing its id first. So the key of every input table (product_data,
-- customer_data, order_data, line_item_data, user_interactions) becomes
-- (shop_id, id), and every writer's idempotency (IngestInteractions, the
-- web pixel) is per shop: ON CONFLICT (shop_id, id).
--
-- This is also what a distributed Postgres requires: Citus, with shop_id as
-- the distribution column, accepts a primary or unique key only when it
-- contains the distribution column, so that each key is checked on the one
-- node that holds the shop. A key of id alone cannot be distributed.
--
-- The migration changes each table in place and keeps every row:
--
-- * A row without a shop (shop_id NULL) gets shop_id '' (the empty string),
--   since a key column cannot be NULL. Such rows cannot be used by any
--   feature (the scan reads one named shop at a time, and the change-log
--   triggers skip NULL and '' alike), so '' changes no feature and logs no
--   change; and since ids were unique across the whole table, ('', id)
--   collides with no other row. Refusing instead would stop `serve`, which
--   migrates first, on a database a shop sync fills, over rows featurestore
--   never reads. What is lost is only the difference between NULL and '';
--   from now on every writer must give a shop_id.
-- * The primary key (id), whatever its name (a shop sync may have created
--   the table), is replaced by PRIMARY KEY (shop_id, id). A table already
--   keyed by (shop_id, id) is left alone, so the migration is idempotent. A
--   table keyed by anything else, or whose key other tables reference with
--   a foreign key, is refused with a message naming it: replacing such a key
--   would change another application's schema behind its back.
--
-- Adding the key builds its index under a lock that blocks writes to the
-- table, one table at a time: on a large user_interactions that takes about
-- as long as CREATE INDEX.
--
-- The change-log triggers of 00002 need no change: an UPDATE pairs old and
-- new row versions by id with shop_id among the compared columns, which is
-- pairing them by (shop_id, id).
--
-- Down restores PRIMARY KEY (id) and a nullable shop_id, and refuses while
-- some id is stored for more than one shop (naming it). Rows given shop_id
-- '' keep it.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    t text;
    pk_name text;
    pk_cols text[];
    refs text;
    n bigint;
BEGIN
    FOREACH t IN ARRAY ARRAY['product_data', 'customer_data', 'order_data', 'line_item_data', 'user_interactions'] LOOP
        EXECUTE format('UPDATE %I SET shop_id = '''' WHERE shop_id IS NULL', t);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            RAISE NOTICE 'featurestore: % rows of % had no shop_id; they now have shop_id ''''', n, t;
        END IF;

        pk_name := NULL;
        pk_cols := NULL;
        SELECT c.conname, array_agg(a.attname::text ORDER BY k.ord)
          INTO pk_name, pk_cols
          FROM pg_constraint c
         CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
         WHERE c.conrelid = t::regclass AND c.contype = 'p'
         GROUP BY c.conname;
        IF pk_cols = ARRAY['shop_id', 'id'] THEN
            CONTINUE;
        END IF;
        IF pk_name IS NOT NULL AND pk_cols <> ARRAY['id'] AND pk_cols <> ARRAY['id', 'shop_id'] THEN
            RAISE EXCEPTION 'featurestore: cannot make (shop_id, id) the primary key of %: its primary key % is (%), not (id)',
                t, pk_name, array_to_string(pk_cols, ', ')
                USING HINT = 'featurestore needs ids unique per shop: make (shop_id, id) the table''s key, then migrate again';
        END IF;
        SELECT string_agg(format('%s on %s', c.conname, c.conrelid::regclass), ', ')
          INTO refs
          FROM pg_constraint c
         WHERE c.contype = 'f' AND c.confrelid = t::regclass;
        IF refs IS NOT NULL THEN
            RAISE EXCEPTION 'featurestore: cannot make (shop_id, id) the primary key of %: foreign keys reference its key (%)', t, refs
                USING HINT = 'make those foreign keys reference (shop_id, id), or drop them, then migrate again';
        END IF;
        IF pk_name IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I, ADD PRIMARY KEY (shop_id, id)', t, pk_name);
        ELSE
            EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (shop_id, id)', t);
        END IF;
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    t text;
    pk_name text;
    dup_id text;
    dup_shops text;
BEGIN
    FOREACH t IN ARRAY ARRAY['product_data', 'customer_data', 'order_data', 'line_item_data', 'user_interactions'] LOOP
        dup_id := NULL;
        EXECUTE format('SELECT id::text, string_agg(quote_literal(shop_id), '', '' ORDER BY shop_id) FROM %I GROUP BY id HAVING count(*) > 1 LIMIT 1', t)
           INTO dup_id, dup_shops;
        IF dup_id IS NOT NULL THEN
            RAISE EXCEPTION 'featurestore: cannot make (id) the primary key of % again: id % is stored for shops %', t, quote_literal(dup_id), dup_shops
                USING HINT = 'ids are unique per shop since migration 5; rename or delete such rows before migrating down';
        END IF;
        SELECT c.conname INTO pk_name
          FROM pg_constraint c
         WHERE c.conrelid = t::regclass AND c.contype = 'p';
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I, ALTER COLUMN shop_id DROP NOT NULL, ADD PRIMARY KEY (id)', t, pk_name);
    END LOOP;
END $$;
-- +goose StatementEnd
