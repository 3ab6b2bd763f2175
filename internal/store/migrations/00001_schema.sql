-- The input tables mirror a shop sync's schema: text ids, every id the primary
-- key (00005 makes it (shop_id, id): ids are unique per shop), and no other
-- constraint (rows arrive in any order, so there are no foreign keys). They
-- are created only when absent, so featurestore can run on a database that
-- already holds them.

-- +goose Up
CREATE TABLE IF NOT EXISTS product_data (
    id           varchar(255) PRIMARY KEY,
    shop_id      varchar(255),
    product_id   varchar(255),
    title        text,
    price        numeric(14, 2),
    vendor       varchar(255),
    product_type varchar(255),
    created_at   timestamptz
);

CREATE TABLE IF NOT EXISTS customer_data (
    id          varchar(255) PRIMARY KEY,
    shop_id     varchar(255),
    customer_id varchar(255),
    email       varchar(320),
    first_name  varchar(255),
    last_name   varchar(255),
    created_at  timestamptz
);

CREATE TABLE IF NOT EXISTS order_data (
    id          varchar(255) PRIMARY KEY,
    shop_id     varchar(255),
    order_id    varchar(255),
    customer_id varchar(255),
    total_price numeric(14, 2),
    created_at  timestamptz
);

CREATE TABLE IF NOT EXISTS line_item_data (
    id         varchar(255) PRIMARY KEY,
    shop_id    varchar(255),
    order_id   varchar(255),
    product_id varchar(255),
    quantity   integer,
    price      numeric(14, 2)
);

CREATE TABLE IF NOT EXISTS user_interactions (
    id            varchar(255) PRIMARY KEY,
    shop_id       varchar(255),
    customer_id   varchar(255),
    product_id    varchar(255),
    event_type    varchar(64),
    page_type     varchar(64),
    device_type   varchar(64),
    referrer_type varchar(64),
    view_duration double precision,
    created_at    timestamptz
);

-- The compute scan reads one shop's interactions in pair order; ids compare
-- byte by byte, hence the "C" collation whatever the database's default.
CREATE INDEX IF NOT EXISTS user_interactions_pair_scan_idx ON user_interactions
    (shop_id, customer_id COLLATE "C", product_id COLLATE "C", created_at, id COLLATE "C");
CREATE INDEX IF NOT EXISTS order_data_shop_customer_idx ON order_data (shop_id, customer_id COLLATE "C");
CREATE INDEX IF NOT EXISTS order_data_shop_order_idx ON order_data (shop_id, order_id);
CREATE INDEX IF NOT EXISTS line_item_data_shop_order_idx ON line_item_data (shop_id, order_id);
CREATE INDEX IF NOT EXISTS product_data_shop_product_idx ON product_data (shop_id, product_id);
CREATE INDEX IF NOT EXISTS customer_data_shop_customer_idx ON customer_data (shop_id, customer_id);

-- interaction_features is the source of truth for computed features: one row
-- per (shop, customer, product), one column per feature of FEATURES.md.
CREATE TABLE interaction_features (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id                   varchar(255) COLLATE "C" NOT NULL,
    customer_id               varchar(255) COLLATE "C" NOT NULL,
    product_id                varchar(255) COLLATE "C" NOT NULL,
    total_views               integer NOT NULL,
    unique_views              integer NOT NULL,
    view_duration_avg         double precision,
    view_frequency            double precision NOT NULL,
    engagement_score          double precision NOT NULL,
    cart_adds                 integer NOT NULL,
    cart_removes              integer NOT NULL,
    purchases                 integer NOT NULL,
    cart_conversion_rate      double precision NOT NULL,
    view_to_purchase_rate     double precision NOT NULL,
    search_views              integer NOT NULL,
    category_views            integer NOT NULL,
    collection_views          integer NOT NULL,
    direct_views              integer NOT NULL,
    referral_views            integer NOT NULL,
    first_view_date           timestamptz,
    last_view_date            timestamptz,
    view_recency              integer,
    view_consistency          double precision,
    seasonal_view_pattern     double precision,
    mobile_views              integer NOT NULL,
    desktop_views             integer NOT NULL,
    tablet_views              integer NOT NULL,
    preferred_device          varchar(16),
    channel_preference        varchar(64),
    interaction_quality_score double precision NOT NULL,
    intent_score              double precision NOT NULL,
    loyalty_indicator         double precision NOT NULL,
    recommendation_score      double precision NOT NULL,
    purchase_quantity         bigint NOT NULL,
    purchase_value            double precision NOT NULL,
    last_purchase_date        timestamptz,
    purchase_recency          integer,
    as_of                     timestamptz NOT NULL,
    features_version          integer NOT NULL,
    last_computed_at          timestamptz NOT NULL,
    CONSTRAINT interaction_features_pair_key UNIQUE (shop_id, customer_id, product_id)
) WITH (fillfactor = 60);
-- Every compute run rewrites its rows. With room left on each page and no
-- index on a column a run changes, those rewrites are HOT updates that touch
-- no index, which roughly halves the cost of an upsert. Hence no index on
-- last_computed_at: its readers (stale-row removal, updated_since) scan one
-- shop through the pair key instead.

-- feature_runs records every compute run, for operators and for incremental
-- runs that start from the shop's last successful one.
CREATE TABLE feature_runs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id          varchar(255) NOT NULL,
    mode             varchar(16) NOT NULL,
    as_of            timestamptz NOT NULL,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    status           varchar(16) NOT NULL DEFAULT 'running',
    events_read      bigint NOT NULL DEFAULT 0,
    order_lines_read bigint NOT NULL DEFAULT 0,
    pairs_written    bigint NOT NULL DEFAULT 0,
    pairs_deleted    bigint NOT NULL DEFAULT 0,
    error            text
);

CREATE INDEX feature_runs_shop_started_idx ON feature_runs (shop_id, started_at DESC);

-- +goose Down
DROP TABLE IF EXISTS feature_runs;
DROP TABLE IF EXISTS interaction_features;
