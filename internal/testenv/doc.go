// Package testenv gives tests real services: a fresh, migrated Postgres
// database per test and a Redis connection, taken from DATABASE_URL and
// REDIS_URL. Without them a test is skipped with a message saying how to run
// it, except when CI is set: there a missing service fails the test. For
// TLS tests it makes certificate authorities and certificates on the fly.
package testenv
