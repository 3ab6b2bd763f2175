package main

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/featurestore/featurestore/internal/httpmw"
	"github.com/featurestore/featurestore/internal/metrics"
	"github.com/featurestore/featurestore/internal/pixel"
)

// httpConfig is the settings of the HTTP API, which takes storefront events
// from Shopify web pixels.
type httpConfig struct {
	Addr           string
	PixelOrigins   string
	IPLimit        pixel.Limit
	ShopLimit      pixel.Limit
	TrustedProxies string
}

// flags registers the settings; env collects the environment variables
// whose values do not parse.
func (c *httpConfig) flags(fs *flag.FlagSet, env *config) {
	fs.StringVar(&c.Addr, "http-addr", envString("FEATURESTORE_HTTP_ADDR", ""),
		"listen address of the HTTP API, whose POST /v1/pixel/{shop_id}?key=PIXEL_KEY takes Shopify web pixel events; empty serves no HTTP API (env FEATURESTORE_HTTP_ADDR)")
	fs.StringVar(&c.PixelOrigins, "pixel-origins", envString("FEATURESTORE_PIXEL_ORIGINS", pixel.DefaultOrigins),
		"comma-separated browser origins that may post pixel events, such as https://shop.example.com, https://*.myshopify.com or null (Shopify's pixel sandbox); "+
			"an https origin whose host is the shop id is always allowed; a pixel key's own origins replace these (env FEATURESTORE_PIXEL_ORIGINS)")
	fs.Float64Var(&c.IPLimit.Rate, "pixel-ip-rate", env.envFloat("FEATURESTORE_PIXEL_IP_RATE", pixel.DefaultIPLimit.Rate),
		"pixel requests a second one client address may send on average; 0: no limit (env FEATURESTORE_PIXEL_IP_RATE)")
	fs.IntVar(&c.IPLimit.Burst, "pixel-ip-burst", env.envInt("FEATURESTORE_PIXEL_IP_BURST", pixel.DefaultIPLimit.Burst),
		"pixel requests one client address may send at once (env FEATURESTORE_PIXEL_IP_BURST)")
	fs.Float64Var(&c.ShopLimit.Rate, "pixel-shop-rate", env.envFloat("FEATURESTORE_PIXEL_SHOP_RATE", pixel.DefaultShopLimit.Rate),
		"pixel requests a second one shop may receive on average; 0: no limit (env FEATURESTORE_PIXEL_SHOP_RATE)")
	fs.IntVar(&c.ShopLimit.Burst, "pixel-shop-burst", env.envInt("FEATURESTORE_PIXEL_SHOP_BURST", pixel.DefaultShopLimit.Burst),
		"pixel requests one shop may receive at once (env FEATURESTORE_PIXEL_SHOP_BURST)")
	fs.StringVar(&c.TrustedProxies, "http-trusted-proxies", envString("FEATURESTORE_HTTP_TRUSTED_PROXIES", ""),
		"comma-separated addresses or networks (10.0.0.0/8) of the proxies in front of the HTTP API, whose X-Forwarded-For names the client that rate limits count (env FEATURESTORE_HTTP_TRUSTED_PROXIES)")
}

func (c *httpConfig) validate() error {
	if _, err := pixel.ParseOrigins(c.PixelOrigins); err != nil {
		return fmt.Errorf("%w: --pixel-origins: %v", errUsage, err)
	}
	for _, l := range []struct {
		name  string
		limit pixel.Limit
	}{{"--pixel-ip", c.IPLimit}, {"--pixel-shop", c.ShopLimit}} {
		if l.limit.Rate < 0 || math.IsNaN(l.limit.Rate) || math.IsInf(l.limit.Rate, 0) {
			return fmt.Errorf("%w: %s-rate must be a number of requests a second, 0 or more", errUsage, l.name)
		}
		if l.limit.Rate > 0 && l.limit.Burst < 1 {
			return fmt.Errorf("%w: %s-burst must be at least 1", errUsage, l.name)
		}
	}
	if _, err := pixel.ParseProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("%w: --http-trusted-proxies: %q is not a list of addresses and networks such as 10.0.0.1,10.1.0.0/16", errUsage, c.TrustedProxies)
	}
	return nil
}

// pruneInterval is how often idle pixel sessions are removed.
const pruneInterval = 5 * time.Minute

// handler returns the HTTP API: the web pixel endpoint, storing into st
// and checking pixel keys as sec says, behind request logs, metrics
// (registered with m) and panic recovery.
func (c *httpConfig) handler(st pixel.Store, sec *security, m *metrics.Metrics, logger *slog.Logger) (http.Handler, error) {
	origins, err := pixel.ParseOrigins(c.PixelOrigins)
	if err != nil {
		return nil, fmt.Errorf("%w: --pixel-origins: %v", errUsage, err)
	}
	proxies, err := pixel.ParseProxies(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("%w: --http-trusted-proxies: %v", errUsage, err)
	}
	pcfg := pixel.Config{Origins: origins, IPLimit: c.IPLimit, ShopLimit: c.ShopLimit, TrustedProxies: proxies}
	if sec.verifier != nil {
		pcfg.Keys = sec.verifier
	}
	httpMetrics, err := httpmw.NewMetrics(m.Registry)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return httpmw.Wrap("pixel", pixel.NewHandler(st, pcfg, logger), logger, httpMetrics), nil
}
