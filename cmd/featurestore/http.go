package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/featurestore/featurestore/internal/pixel"
)

// httpConfig is the settings of the HTTP API, which takes storefront events
// from Shopify web pixels.
type httpConfig struct {
	Addr         string
	PixelOrigins string
}

func (c *httpConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "http-addr", envString("FEATURESTORE_HTTP_ADDR", ""),
		"listen address of the HTTP API, whose POST /v1/pixel/{shop_id} takes Shopify web pixel events; empty serves no HTTP API (env FEATURESTORE_HTTP_ADDR)")
	fs.StringVar(&c.PixelOrigins, "pixel-origins", envString("FEATURESTORE_PIXEL_ORIGINS", pixel.DefaultOrigins),
		"comma-separated browser origins that may post pixel events, such as https://shop.example.com, https://*.myshopify.com or null (Shopify's pixel sandbox); "+
			"an https origin whose host is the shop id is always allowed (env FEATURESTORE_PIXEL_ORIGINS)")
}

func (c *httpConfig) validate() error {
	if _, err := pixel.ParseOrigins(c.PixelOrigins); err != nil {
		return fmt.Errorf("%w: --pixel-origins: %v", errUsage, err)
	}
	return nil
}

// pruneInterval is how often idle pixel sessions are removed.
const pruneInterval = 5 * time.Minute

// startHTTP starts the HTTP API in g when --http-addr is set: the web pixel
// endpoint, and the pruning of the session state it keeps. Like serveHTTP
// it fails at once when the address cannot be listened on.
func startHTTP(ctx context.Context, g *errgroup.Group, cfg *config, pool *pgxpool.Pool, logger *slog.Logger) error {
	if cfg.HTTP.Addr == "" {
		return nil
	}
	origins, err := pixel.ParseOrigins(cfg.HTTP.PixelOrigins)
	if err != nil {
		return fmt.Errorf("%w: --pixel-origins: %v", errUsage, err)
	}
	handler := pixel.NewHandler(pool, pixel.Config{Origins: origins}, logger)
	if err := serveHTTP(ctx, g, "pixel", cfg.HTTP.Addr, handler, cfg.ShutdownGrace, logger); err != nil {
		return err
	}
	g.Go(func() error {
		pixel.KeepSessionsPruned(ctx, pool, pruneInterval, logger)
		return nil
	})
	return nil
}
