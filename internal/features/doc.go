// Package features is the interaction-features kernel: the normalisation of
// raw interaction columns and the formulas of FEATURES.md, as a pure function
// from one (shop, customer, product) pair's events and order lines to one
// Vector. It does no I/O and knows nothing of Postgres, Redis or gRPC, so
// every formula can be tested exhaustively and run anywhere.
package features
