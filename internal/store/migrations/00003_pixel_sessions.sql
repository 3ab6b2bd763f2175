-- pixel_sessions holds, for each web pixel client (a browser, by the
-- clientId Shopify gives it), what is needed to set a product view's
-- duration when the client's next event arrives: the client's latest event
-- time and its product view still waiting for that event. Rows of clients
-- idle for an hour are pruned, so the table holds only current visitors.

-- +goose Up
CREATE TABLE pixel_sessions (
    shop_id       varchar(255) NOT NULL,
    client_id     varchar(255) NOT NULL,
    last_event_at timestamptz,
    view_id       varchar(255),
    view_at       timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, client_id)
);

CREATE INDEX pixel_sessions_updated_idx ON pixel_sessions (updated_at);

-- +goose Down
DROP TABLE IF EXISTS pixel_sessions;
