// Package ingest is the one way interactions enter user_interactions: one
// validation that every writer applies before anything is stored, and one
// write path that makes a batch idempotent by (shop_id, id) and all or
// nothing, in one transaction: ids are unique per shop, not across shops. A
// batch of new ids is copied straight into the table; one that holds stored
// ids goes by COPY into a stage table, then INSERT ... ON CONFLICT (shop_id,
// id) DO NOTHING. The gRPC IngestInteractions handler and the web
// pixel endpoint both go through it.
package ingest
