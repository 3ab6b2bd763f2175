// Package store is featurestore's Postgres edge, and the only package of
// the service that runs SQL or imports the driver: the embedded schema
// migrations, and the methods of Store, made by New over a pool: the
// ordered scan of a shop's interactions and order lines, the runs' locks,
// change log, bulk upsert of computed vectors and replacement of a shop's
// rows in one transaction (replace.go), the statistics refresh after a
// large run (statistics.go), the online reads and bulk export that
// serve them, the checks that tell an unknown shop from an empty one
// (shops.go), the ingest and web pixel writes of interactions, idempotent
// per shop, the API keys (keys.go), and the demo's bulk loads; and the
// Pinger, which checks the database on a connection of its own for health.
// Each consumer depends on the narrow interface of the methods it uses,
// which it declares itself with its contract.
//
// Driver errors are translated here into the sentinels of errors.go
// (ErrUnavailable, ErrShopLocked, ...); nothing above this package sees a
// pgx error type.
package store
