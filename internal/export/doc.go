// Package export writes the records of a StreamFeatures call to files that
// training pipelines read directly (CSV, JSON lines and Parquet), and keeps
// beside each unfinished file the state that lets an interrupted export
// resume without duplicates or gaps. Every format has the same columns,
// derived once from the feature catalogue (Columns).
package export
