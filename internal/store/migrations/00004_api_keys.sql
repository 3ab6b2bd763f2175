-- api_keys holds the keys that callers present: gRPC clients in the
-- authorization header, storefront pixels in their URL. A key's secret is
-- never stored, only its SHA-256 (see package auth for why a plain hash
-- suffices for a 256-bit random secret). id is the public part of a key
-- (fsk_<id>_<secret>) by which it is looked up.
--
-- shops lists the shops a key may act on, or is {'*'} for every shop;
-- scopes lists what it may do. origins, for pixel keys, lists the browser
-- origins that may use it. A name identifies one key that is not revoked;
-- revoked keys keep their name for the record, so a name can be reused
-- after its key is revoked. last_used_at is updated at most once a minute
-- per server, off the request path.

-- +goose Up
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL CHECK (name <> '' AND length(name) <= 100),
    secret_hash  bytea NOT NULL CHECK (length(secret_hash) = 32),
    shops        text[] NOT NULL CHECK (cardinality(shops) > 0),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) > 0
                     AND scopes <@ ARRAY['read', 'export', 'compute', 'ingest', 'pixel']),
    origins      text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

CREATE UNIQUE INDEX api_keys_active_name_idx ON api_keys (name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE IF EXISTS api_keys;
