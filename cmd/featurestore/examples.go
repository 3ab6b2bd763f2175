package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/store"
)

// customerSampler finds ids for the examples; *store.Store implements it.
type customerSampler interface {
	// SampleCustomer must return the shop's customer with the most stored
	// pairs and up to limit of the shop's products, that customer's first,
	// or an empty customer when the shop has no stored rows.
	SampleCustomer(ctx context.Context, shopID string, limit int) (string, []string, error)
}

var _ customerSampler = (*store.Store)(nil)

func runExamples(ctx context.Context, args []string) error {
	var (
		cfg      config
		shop     string
		grpcurl  string
		key      string
		products int
	)
	fs := newFlagSet("examples", "--shop ID [flags]")
	cfg.databaseFlags(fs)
	fs.StringVar(&shop, "shop", "", "shop whose stored rows the examples use (required)")
	fs.StringVar(&cfg.Addr, "addr", envString("FEATURESTORE_ADDR", "127.0.0.1:50051"), "server address the commands call (env FEATURESTORE_ADDR)")
	fs.StringVar(&grpcurl, "grpcurl", "grpcurl", "grpcurl command to print")
	fs.IntVar(&products, "products", 100, "number of products in the GetFeatures example")
	fs.StringVar(&key, "key", envString("FEATURESTORE_API_KEY", ""), "API key the commands send (env FEATURESTORE_API_KEY); empty prints a placeholder")
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	if shop == "" {
		return fmt.Errorf("%w: --shop is required", errUsage)
	}
	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	var sampler customerSampler = st
	customer, productIDs, err := sampler.SampleCustomer(ctx, shop, products)
	if err != nil {
		return err
	}

	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	// Without a key, a placeholder in double quotes that the shell fills in.
	header := `-H "authorization: Bearer $FEATURESTORE_API_KEY" `
	if key != "" {
		header = "-H " + quote("authorization: Bearer "+key) + " "
	}
	call := func(title, method string, body any) {
		fmt.Printf("\n# %s\n", title)
		data := ""
		if body != nil {
			b, _ := json.Marshal(body)
			data = "-d " + quote(string(b)) + " "
		}
		auth := ""
		if strings.HasPrefix(method, "featurestore.") {
			// Health and reflection are open; the data calls need the key.
			auth = header
		}
		fmt.Printf("%s -plaintext %s%s%s %s\n", grpcurl, auth, data, cfg.Addr, method)
	}
	fmt.Printf("Ready-to-paste grpcurl commands for shop %s (server at %s):\n", shop, cfg.Addr)
	if key == "" {
		fmt.Println("(set FEATURESTORE_API_KEY to a key from featurestore keys create --name NAME --shops " + shop + " --scopes read,export,compute,ingest)")
	}
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
