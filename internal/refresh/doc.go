// Package refresh keeps every shop's features current without anyone asking:
// at each interval it runs INCREMENTAL for the shops whose inputs changed,
// and FULL for those whose last FULL run is older than the full interval, so
// that features that move with time alone, such as recency, stay current.
// Everything it decides from lives in Postgres (the change log and
// feature_runs), so a restarted server continues the schedule where the
// last one stopped, and the compute engine's shop lock keeps runs of one
// shop from overlapping, across servers too. Many servers sharing the
// database spread the due shops among them: each claims a shop in
// Postgres (refresh_claims, FOR UPDATE SKIP LOCKED) before it runs it, so
// that each due shop is computed once.
package refresh
