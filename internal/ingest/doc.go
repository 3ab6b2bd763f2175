// Package ingest is the one way interactions enter user_interactions: one
// validation that every writer applies before anything is stored, in front
// of the store's one write path, which makes a batch idempotent by
// (shop_id, id) and all or nothing, in one transaction: ids are unique per
// shop, not across shops (Store.WriteInteractions; the web pixel's
// transaction, Store.StorePixelEvents, writes its rows the same way). The
// gRPC IngestInteractions handler and the web pixel endpoint both validate
// through it.
package ingest
