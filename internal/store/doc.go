// Package store is featurestore's Postgres edge: the embedded schema
// migrations, the ordered scan of a shop's interactions and order lines, the
// bulk upsert of computed vectors, and the reads that serve them. Driver
// errors are translated here into the sentinels below; nothing above this
// package sees a pgx error type.
package store
