package pixel

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/featurestore/featurestore/internal/ingest"
)

func TestPageType(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"":                                   "home",
		"/":                                  "home",
		"/fr":                                "home",
		"/search":                            "search",
		"/search/":                           "search",
		"/Search":                            "search",
		"/collections":                       "collection",
		"/collections/all":                   "collection",
		"/collections/shirts/products/linen": "collection",
		"/products/linen-shirt":              "product",
		"/en-ca/products/linen-shirt":        "product",
		"/de/collections/hemden":             "collection",
		"/cart":                              "cart",
		"/checkouts/cn/abc/thank-you":        "checkout",
		"/pages/about-us":                    "page",
		"/blogs/news/spring":                 "blog",
		"/account/orders":                    "account",
		"/apps/wishlist":                     "other",
		"/abc/products/x":                    "other",
	} {
		if got := pageType(path); got != want {
			t.Errorf("pageType(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestDeviceType(t *testing.T) {
	t.Parallel()
	const (
		androidPhone  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
		androidTablet = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
		iPhone        = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
		iPad          = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
		mac           = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
		windows       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
		linux         = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
		kindle        = "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.1.1 like Chrome/124.0.0.0 Safari/537.36"
	)
	for _, tc := range []struct {
		name, ua      string
		inner, screen float64
		want          string
	}{
		{"iPhone", iPhone, 390, 390, "mobile"},
		{"Android phone", androidPhone, 412, 412, "mobile"},
		{"iPad", iPad, 820, 820, "tablet"},
		{"Android tablet", androidTablet, 1138, 1138, "tablet"},
		{"Kindle Fire", kindle, 800, 800, "tablet"},
		{"iPad asking for desktop sites says Macintosh", mac, 1180, 820, "tablet"},
		{"Mac", mac, 1440, 1440, "desktop"},
		{"Mac in a narrow window", mac, 500, 1512, "desktop"},
		{"Windows", windows, 1680, 1680, "desktop"},
		{"Windows in a narrow window", windows, 600, 1920, "desktop"},
		{"Linux", linux, 1280, 1920, "desktop"},
		{"unknown agent, phone-sized viewport", "SomeBot/1.0", 375, 0, "mobile"},
		{"no agent, tablet-sized viewport", "", 800, 0, "tablet"},
		{"no agent, wide viewport", "", 1300, 0, "desktop"},
		{"nothing known", "", 0, 0, ""},
	} {
		got := ""
		if d := deviceType(tc.ua, tc.inner, tc.screen); d != nil {
			got = *d
		}
		if got != tc.want {
			t.Errorf("%s: deviceType = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestReferrerType(t *testing.T) {
	t.Parallel()
	m := newMapper("acme.myshopify.com")
	for _, tc := range []struct {
		name, page, referrer, want string
	}{
		{"typed in", "https://shop.acme.com/", "", "direct"},
		{"same host", "https://shop.acme.com/products/x", "https://shop.acme.com/collections/y", "internal"},
		{"same host but www and a port", "https://www.shop.acme.com/", "https://shop.acme.com:443/", "internal"},
		{"the shop's myshopify host from its custom domain", "https://shop.acme.com/", "https://acme.myshopify.com/", "internal"},
		{"Shop Pay", "https://shop.acme.com/checkouts/c/1/thank-you", "https://shop.app/", "internal"},
		{"Google", "https://shop.acme.com/", "https://www.google.com/", "search_engine"},
		{"Google abroad", "https://shop.acme.com/", "https://www.google.co.uk/", "search_engine"},
		{"Bing", "https://shop.acme.com/", "https://www.bing.com/search?q=acme", "search_engine"},
		{"DuckDuckGo", "https://shop.acme.com/", "https://duckduckgo.com/", "search_engine"},
		{"a site named like a search engine", "https://shop.acme.com/", "https://google.example.com/", "referral"},
		{"Facebook's link shim", "https://shop.acme.com/", "https://l.facebook.com/", "social"},
		{"Instagram", "https://shop.acme.com/", "https://www.instagram.com/", "social"},
		{"X's t.co", "https://shop.acme.com/", "https://t.co/abc", "social"},
		{"Pinterest abroad", "https://shop.acme.com/", "https://www.pinterest.co.uk/", "social"},
		{"Gmail", "https://shop.acme.com/", "https://mail.google.com/", "email"},
		{"Outlook", "https://shop.acme.com/", "https://outlook.live.com/", "email"},
		{"a blog", "https://shop.acme.com/", "https://blog.example.com/best-shirts", "referral"},
		{"newsletter without a referrer", "https://shop.acme.com/?utm_source=klaviyo&utm_medium=email", "", "email"},
		{"Google Ads click", "https://shop.acme.com/?gclid=abc", "https://www.google.com/", "paid"},
		{"paid social campaign", "https://shop.acme.com/?utm_medium=paid_social", "https://l.facebook.com/", "paid"},
		{"cpc campaign", "https://shop.acme.com/?utm_medium=CPC", "", "paid"},
		{"organic social with a campaign tag", "https://shop.acme.com/?utm_medium=social&fbclid=x", "https://l.facebook.com/", "social"},
		{"a referrer that is not a URL", "https://shop.acme.com/", "not a url", "direct"},
	} {
		page, err := url.Parse(tc.page)
		if err != nil {
			t.Fatal(err)
		}
		ref := parseReferrer(tc.referrer)
		internal := ref != nil && m.isInternal(ref.Host, page.Host)
		if got := *referrerType(ref, internal, page.Query()); got != tc.want {
			t.Errorf("%s: referrerType = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestGID(t *testing.T) {
	t.Parallel()
	for id, want := range map[shopifyID]string{
		"7234567890123":                    "gid://shopify/Product/7234567890123",
		"gid://shopify/Product/7234567890": "gid://shopify/Product/7234567890",
		"custom-sku-1":                     "custom-sku-1",
	} {
		if got := gid("Product", id); got == nil || *got != want {
			t.Errorf("gid(%q) = %v, want %q", id, got, want)
		}
	}
	if got := gid("Customer", ""); got != nil {
		t.Errorf("gid of an empty id = %q, want nil", *got)
	}
}

// TestMetadataIsBounded checks that what an event says beyond the kernel's
// columns never makes it unstorable: a search query is cut on a character
// boundary and loses its NULs, a checkout keeps as many of a product's lines
// as fit and counts the others, and values that cannot be ids are left out.
func TestMetadataIsBounded(t *testing.T) {
	query := "a\x00" + strings.Repeat("é", maxQueryBytes)
	ev := &event{Name: searchSubmitted}
	ev.Data.SearchResult = &struct {
		Query looseString `json:"query"`
	}{Query: looseString(query)}
	var search searchMetadata
	if err := json.Unmarshal(pageMetadata(ev), &search); err != nil {
		t.Fatal(err)
	}
	if len(search.Query) > maxQueryBytes || !utf8.ValidString(search.Query) || strings.ContainsRune(search.Query, 0) || !strings.HasPrefix(search.Query, "aé") {
		t.Errorf("query of %d bytes stored as %d bytes %q...", len(query), len(search.Query), search.Query[:8])
	}

	long := looseString(strings.Repeat("9", 200))
	ev = &event{Name: checkoutCompleted}
	ev.Data.Checkout = &checkout{CurrencyCode: "a currency code that is far too long"}
	for range 400 {
		ev.Data.Checkout.LineItems = append(ev.Data.Checkout.LineItems,
			checkoutLine{Variant: &variant{ID: long, Product: &product{ID: "1"}}, Quantity: looseNumber{V: 1, Valid: true}})
	}
	b := productMetadata(ev, "1")
	var md checkoutMetadata
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	if len(b) > ingest.MaxMetadataBytes || len(md.Lines) == 0 || len(md.Lines)+md.LinesOmitted != 400 || md.Currency != "" {
		t.Errorf("metadata of %d bytes: %d lines, %d omitted, currency %q; want at most %d bytes, 400 lines in all, no currency",
			len(b), len(md.Lines), md.LinesOmitted, md.Currency, ingest.MaxMetadataBytes)
	}
	if id := metadataID("ProductVariant", looseString(strings.Repeat("1", 256))); id != "" {
		t.Errorf("an id of 256 digits became %q, want none", id)
	}
}
