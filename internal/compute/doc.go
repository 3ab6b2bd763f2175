// Package compute runs one feature computation for a shop: it scans the
// shop's interactions (an anonymous client's under the customer its first
// linking row names, FEATURES.md 1.4) and order lines in pair order, runs
// the kernel on each pair, and writes the vectors in bulk batches while the
// scan goes on, under the shop's lock so that runs never overlap. A FULL run
// covers every pair, split into customer ranges that several workers
// compute at once; of a whole shop, it replaces the shop's rows in one
// transaction (store.Replace), so readers see it all at once. An
// INCREMENTAL run covers the pairs that the change log names, and upserts
// them. ComputeRows
// computes a shop at any instant without writing, for point-in-time
// training data.
package compute
