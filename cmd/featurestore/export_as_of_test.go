package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/health"

	"github.com/featurestore/featurestore/internal/compute"
	"github.com/featurestore/featurestore/internal/export"
	"github.com/featurestore/featurestore/internal/export/exporttest"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// TestExportAsOf exports the golden shops as computed at 2025-03-01, which
// is the expected point-in-time file, from a server whose table is empty.
func TestExportAsOf(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.GoldenPostgres(t)
	engine, err := compute.NewEngine(store.New(pool), compute.DefaultConfig(), testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.NewService(server.Config{Computer: engine, Rows: engine}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	addr := testenv.ServeGRPC(t, server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil), "127.0.0.1:0")
	asOf := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	expected := testenv.ReadExpected(t, "expected_interaction_features_as_of_2025-03-01.csv")
	for _, shop := range []string{"shop-0", "shop-1"} {
		out := filepath.Join(t.TempDir(), shop+".jsonl")
		err := runExport(context.Background(), []string{"--addr", addr, "--shop", shop, "--out", out,
			"--as-of", asOf.Format(time.RFC3339), "--batch-size", "64"})
		if err != nil {
			t.Fatalf("export %s: %v", shop, err)
		}
		var rows []store.StoredRow
		for _, r := range exporttest.ReadRecords(t, out, export.JSONL) {
			rows = append(rows, store.StoredRow{CustomerID: r.GetCustomerId(), ProductID: r.GetProductId(),
				Vector: protoconv.Vector(r.GetFeatures()), AsOf: r.GetAsOf().AsTime(), Version: r.GetFeaturesVersion()})
		}
		testenv.CompareRows(t, shop, rows, expected, asOf)
	}

	err = runExport(context.Background(), []string{"--addr", addr, "--shop", "shop-0", "--out", filepath.Join(t.TempDir(), "x.csv"),
		"--as-of", "2025-03-01T00:00:00Z", "--updated-since", "2025-01-01T00:00:00Z"})
	if !errors.Is(err, errUsage) {
		t.Errorf("--as-of with --updated-since: %v, want a usage error", err)
	}
}
