// Package replica reads from a Postgres streaming replica where a read may
// be a little behind the primary, and from the primary everywhere else.
//
// A Monitor measures how far the replica is behind, without a query per
// read: every CheckInterval it notes the primary's WAL insert position and
// then asks the replica how far it has replayed. Once the replica has
// replayed past a position noted at time t, it holds every transaction the
// primary committed before t, so its lag is at most now - t. The lag so
// measured grows while the replica falls behind, even between checks, and
// a replica that does not answer, or is no longer in recovery (promoted),
// is not read at all. A read goes to the replica only while its lag is
// within MaxLag.
//
// The routed readers (Source, Exports, Rows) send StreamFeatures, exports
// and the Postgres reads of GetFeatures to the replica while it is within
// the bound, and to the primary otherwise. A cache fill always reads the
// primary (see Source): a fill marks a customer's hash complete, and a
// run that committed and wrote through before the fill began found no hash
// to write to, so rows read from a replica that has not replayed that run
// yet would leave the cache without pairs (or with vectors) older than the
// primary's until the hash expires.
package replica
