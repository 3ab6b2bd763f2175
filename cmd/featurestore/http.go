package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"time"

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

// handler returns the HTTP API: the web pixel endpoint, storing into st.
func (c *httpConfig) handler(st pixel.Store, logger *slog.Logger) (http.Handler, error) {
	origins, err := pixel.ParseOrigins(c.PixelOrigins)
	if err != nil {
		return nil, fmt.Errorf("%w: --pixel-origins: %v", errUsage, err)
	}
	return pixel.NewHandler(st, pixel.Config{Origins: origins}, logger), nil
}
