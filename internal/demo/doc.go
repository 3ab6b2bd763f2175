// Package demo generates a deterministic synthetic shop (products, customers,
// orders, order lines and a year of storefront events) and streams it into
// the input tables with COPY. The `featurestore seed-demo` command uses it to
// give people something to look at, and the benchmarks use it as their data
// set, so the same Config must always produce the same rows: every random
// draw comes from a PCG stream derived from the seed and the row's position,
// and nothing depends on the clock or on map order.
//
// The shop is meant to look real to someone reading feature vectors: product
// popularity is Zipf-like, customer activity is log-normal, events come in
// sessions of a few minutes days apart, sessions follow the view, add to
// cart, remove, checkout funnel, traffic peaks in November and December, and
// every checkout_completed event of a customer matches an order line of the
// same customer, product and instant. Every event carries its browser's
// client id, and some customers browse logged out until they log in or
// check out, so that identity resolution has anonymous rows to attribute.
package demo
