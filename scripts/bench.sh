#!/usr/bin/env bash
# Runs the benchmarks: the Go micro-benchmarks of the hot paths, then the
# end-to-end benchmarks of featurestore-bench against the services whose
# URLs the environment gives (make bench sets them).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?DATABASE_URL must be set (make bench sets it)}"

echo "== Go benchmarks of the hot paths"
# shellcheck disable=SC2086 # a list of packages
go test -run '^$' -bench . -benchmem -count 1 ${BENCH_PKGS:-./internal/features/ ./internal/protoconv/ ./internal/store/ ./internal/server/}

echo
echo "== End-to-end benchmarks"
go build -o .bin/featurestore ./cmd/featurestore
go run ./cmd/featurestore-bench --featurestore .bin/featurestore "$@"
