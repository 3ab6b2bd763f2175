package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/featurestore/featurestore/internal/export"
)

// TestExportUnknownShop exports a shop the server has never heard of, as a
// typo in --shop does: the command fails saying so, and leaves no file
// that could pass for an empty shop's export.
func TestExportUnknownShop(t *testing.T) {
	t.Parallel()
	fx := newExportFixture(t)
	for _, format := range []export.Format{export.CSV, export.Parquet} {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "features."+string(format))
			err := run(context.Background(), []string{"export", "--addr", fx.addr, "--shop", "shop-typo", "--out", path})
			if err == nil || !strings.Contains(err.Error(), `shop "shop-typo" is unknown`) || !strings.Contains(err.Error(), "--shop") {
				t.Fatalf("export of an unknown shop: %v; want an error saying the shop is unknown and naming --shop", err)
			}
			if strings.Contains(err.Error(), "rpc error") {
				t.Errorf("the error %q shows the gRPC wrapping rather than the server's message", err)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 0 {
				t.Errorf("the failed export left %d files behind (%s, ...)", len(entries), entries[0].Name())
			}
		})
	}
}
