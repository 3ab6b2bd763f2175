// Package compute runs one feature computation for a shop: it scans the
// shop's interactions and order lines in pair order, runs the kernel on each
// pair, and writes the vectors in bulk batches while the scan goes on, under
// the shop's lock so that runs never overlap.
package compute
