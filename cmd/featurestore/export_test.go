package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/protobuf/proto"

	featurestorev1 "github.com/featurestore/featurestore/gen/featurestore/v1"
	"github.com/featurestore/featurestore/internal/export"
	"github.com/featurestore/featurestore/internal/export/exporttest"
	"github.com/featurestore/featurestore/internal/protoconv"
	"github.com/featurestore/featurestore/internal/server"
	"github.com/featurestore/featurestore/internal/store"
	"github.com/featurestore/featurestore/internal/testenv"
)

// exportFixture is a database with a shop of stored rows and a server
// exporting it.
type exportFixture struct {
	pool *pgxpool.Pool
	addr string
}

const exportShop = "shop"

func newExportFixture(t *testing.T) *exportFixture {
	t.Helper()
	pool, _ := testenv.Postgres(t)
	for shop, customers := range map[string]int{exportShop: 60, "other-shop": 5} {
		if _, err := store.New(pool).SeedFeatureRows(context.Background(), shop, customers, 20); err != nil {
			t.Fatal(err)
		}
	}
	_, addr := serveExporter(t, store.New(pool), "127.0.0.1:0")
	return &exportFixture{pool: pool, addr: addr}
}

func serveExporter(t *testing.T, x server.Exporter, addr string) (*grpc.Server, string) {
	t.Helper()
	svc, err := server.NewService(server.Config{Exporter: x}, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	srv := server.NewGRPCServer(svc, health.NewServer(), testenv.Logger(), nil)
	return srv, testenv.ServeGRPC(t, srv, addr)
}

// want returns the shop's rows that keep selects, in API form.
func (fx *exportFixture) want(t *testing.T, keep func(*store.StoredRow) bool) []*featurestorev1.FeatureRecord {
	t.Helper()
	var out []*featurestorev1.FeatureRecord
	for _, r := range testenv.StoredRows(t, fx.pool, exportShop) {
		if keep == nil || keep(&r) {
			out = append(out, protoconv.Record(&r))
		}
	}
	if len(out) == 0 {
		t.Fatal("the case selects no rows")
	}
	return out
}

// checkExport reads the export at path and compares it with want.
func checkExport(t *testing.T, path string, format export.Format, want []*featurestorev1.FeatureRecord) {
	t.Helper()
	got := exporttest.ReadRecords(t, path, format)
	if len(got) != len(want) {
		t.Fatalf("%s has %d rows, want %d", filepath.Base(path), len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("row %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
	if _, err := os.Stat(export.StatePath(path)); !os.IsNotExist(err) {
		t.Errorf("export state left behind after a finished export (%v)", err)
	}
}

func TestExportCommand(t *testing.T) {
	t.Parallel()
	fx := newExportFixture(t)
	since := "2025-06-01T00:00:25Z"
	sinceTime, _ := time.Parse(time.RFC3339, since)
	customers := []string{"gid://shopify/Customer/3", "gid://shopify/Customer/30", "gid://shopify/Customer/59"}
	for _, tc := range []struct {
		name string
		args []string
		keep func(*store.StoredRow) bool
	}{
		{"whole shop", nil, nil},
		{"updated since", []string{"--updated-since", since},
			func(r *store.StoredRow) bool { return !r.ComputedAt.Before(sinceTime) }},
		{"customers", []string{"--customers", strings.Join(customers, ",")},
			func(r *store.StoredRow) bool { return slices.Contains(customers, r.CustomerID) }},
	} {
		want := fx.want(t, tc.keep)
		for _, format := range []export.Format{export.CSV, export.JSONL, export.Parquet} {
			t.Run(tc.name+"/"+string(format), func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "features."+string(format))
				args := append([]string{"--addr", fx.addr, "--shop", exportShop, "--out", path, "--batch-size", "64", "--row-group-rows", "500"}, tc.args...)
				if err := run(context.Background(), append([]string{"export"}, args...)); err != nil {
					t.Fatal(err)
				}
				checkExport(t, path, format, want)
			})
		}
	}
}

// gate is an exporter that stops after a number of rows, as a server does
// when its connection is cut or its process stops: it reports that the rows
// went out and waits for the call to end.
type gate struct {
	server.Exporter
	after   int64
	rows    atomic.Int64
	reached chan struct{}
	once    sync.Once
}

func newGate(x server.Exporter, after int64) *gate {
	return &gate{Exporter: x, after: after, reached: make(chan struct{})}
}

func (g *gate) ExportRows(ctx context.Context, req store.ExportRequest, fn func(*store.StoredRow) error) error {
	return g.Exporter.ExportRows(ctx, req, func(r *store.StoredRow) error {
		if g.rows.Add(1) > g.after {
			g.once.Do(func() { close(g.reached) })
			<-ctx.Done()
			return ctx.Err()
		}
		return fn(r)
	})
}

// checkpointRows returns the rows the last checkpoint of the export to path
// recorded, 0 before there is one.
func checkpointRows(path string) int64 {
	var st struct {
		Rows int64 `json:"rows"`
	}
	if b, err := os.ReadFile(export.StatePath(path)); err != nil || json.Unmarshal(b, &st) != nil {
		return 0
	}
	return st.Rows
}

// TestExportCommandResume interrupts an export, as Ctrl-C or a killed
// client does, leaves half a line at the end of the file as a process
// killed mid-write would, and checks that --resume completes the file with
// every row exactly once.
func TestExportCommandResume(t *testing.T) {
	t.Parallel()
	fx := newExportFixture(t)
	want := fx.want(t, nil)
	for _, format := range []export.Format{export.CSV, export.JSONL, export.Parquet} {
		t.Run(string(format), func(t *testing.T) {
			t.Parallel()
			g := newGate(store.New(fx.pool), 700)
			_, cutAddr := serveExporter(t, g, "127.0.0.1:0")
			path := filepath.Join(t.TempDir(), "features."+string(format))
			args := []string{"export", "--shop", exportShop, "--out", path, "--batch-size", "50", "--row-group-rows", "200"}

			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				// The interruption comes while batches are in flight: the
				// export keeps what reached it, however many that is.
				<-g.reached
				cancel()
			}()
			if err := run(ctx, append(args, "--addr", cutAddr)); err == nil || !strings.Contains(err.Error(), "--resume") {
				t.Fatalf("interrupted export: %v, want an error that suggests --resume", err)
			}
			if _, err := os.Stat(export.StatePath(path)); err != nil {
				t.Fatalf("no export state after the interruption: %v", err)
			}
			if format != export.Parquet {
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString("gid://shopify/Customer/half")
				f.Close()
			}
			if err := run(context.Background(), append(args, "--addr", fx.addr)); err == nil {
				t.Fatal("a new export over the unfinished one succeeded")
			}
			if err := run(context.Background(), append(args, "--addr", fx.addr, "--customers", "a")); err == nil {
				t.Fatal("--resume with other filters succeeded")
			}
			if err := run(context.Background(), append(args, "--addr", fx.addr, "--resume")); err != nil {
				t.Fatalf("resume: %v", err)
			}
			checkExport(t, path, format, want)
		})
	}
}

// TestExportCommandSurvivesServerRestart stops the server mid-export and
// starts a new one at its address: the command reconnects by itself and
// continues with its last token.
func TestExportCommandSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	fx := newExportFixture(t)
	want := fx.want(t, nil)
	g := newGate(store.New(fx.pool), 500)
	first, addr := serveExporter(t, g, "127.0.0.1:0")
	path := filepath.Join(t.TempDir(), "features.parquet")
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"export", "--addr", addr, "--shop", exportShop, "--out", path, "--batch-size", "50", "--row-group-rows", "200"})
	}()
	<-g.reached
	// Stop the server once the export has closed a part (of 200 rows, of
	// the 500 the server sends before it stalls): the new server must
	// continue after them.
	testenv.WaitFor(t, time.Minute, "the export records a checkpoint", func() bool { return checkpointRows(path) > 0 })
	first.Stop()
	serveExporter(t, store.New(fx.pool), addr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkExport(t, path, export.Parquet, want)
}
