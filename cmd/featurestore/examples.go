package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/store"
)

func runExamples(ctx context.Context, args []string) error {
	var (
		cfg      config
		shop     string
		grpcurl  string
		products int
	)
	fs := newFlagSet("examples", "--shop ID [flags]")
	cfg.databaseFlags(fs)
	fs.StringVar(&shop, "shop", "", "shop whose stored rows the examples use (required)")
	fs.StringVar(&cfg.Addr, "addr", envString("FEATURESTORE_ADDR", "127.0.0.1:50051"), "server address the commands call (env FEATURESTORE_ADDR)")
	fs.StringVar(&grpcurl, "grpcurl", "grpcurl", "grpcurl command to print")
	fs.IntVar(&products, "products", 100, "number of products in the GetFeatures example")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if shop == "" {
		return fmt.Errorf("%w: --shop is required", errUsage)
	}
	pool, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	customer, productIDs, err := store.SampleCustomer(ctx, pool, shop, products)
	if err != nil {
		return err
	}

	call := func(title, method string, body any) {
		fmt.Printf("\n# %s\n", title)
		data := ""
		if body != nil {
			b, _ := json.Marshal(body)
			data = "-d '" + strings.ReplaceAll(string(b), "'", `'\''`) + "' "
		}
		fmt.Printf("%s -plaintext %s%s %s\n", grpcurl, data, cfg.Addr, method)
	}
	fmt.Printf("Ready-to-paste grpcurl commands for shop %s (server at %s):\n", shop, cfg.Addr)
	call("What the server offers (reflection)", "list", nil)
	call("Health: SERVING while Postgres answers", "grpc.health.v1.Health/Check", map[string]string{"service": "featurestore.v1.FeatureStoreService"})
	call("The feature catalogue", "featurestore.v1.FeatureStoreService/DescribeFeatures", nil)
	call("Recompute the shop's features (streams progress, then totals)", "featurestore.v1.FeatureStoreService/ComputeFeatures", map[string]string{"shopId": shop})
	if customer != "" {
		call(fmt.Sprintf("Online read: one customer x %d products, answered in that order", len(productIDs)),
			"featurestore.v1.FeatureStoreService/GetFeatures",
			map[string]any{"shopId": shop, "customerId": customer, "productIds": productIDs})
		call("The same customer's dense vectors, in the layout DescribeFeatures gives",
			"featurestore.v1.FeatureStoreService/GetFeatures",
			map[string]any{"shopId": shop, "customerId": customer, "productIds": productIDs[:min(3, len(productIDs))], "includeVector": true})
		call("Bulk export (here of one customer): rows in batches, each with a resume token", "featurestore.v1.FeatureStoreService/StreamFeatures",
			map[string]any{"shopId": shop, "customerIds": []string{customer}, "batchSize": 25})
	}
	call("Track an interaction (idempotent by shop and id), then recompute to see it", "featurestore.v1.FeatureStoreService/IngestInteractions",
		map[string]any{"interactions": []map[string]any{{
			"id": shop + "/example-1", "shopId": shop, "customerId": "gid://shopify/Customer/example",
			"productId": "gid://shopify/Product/example", "eventType": "product_viewed", "pageType": "search",
			"deviceType": "mobile", "viewDuration": 42.5, "createdAt": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339),
		}}})
	fmt.Println()
	return nil
}
