package pixel

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/featurestore/featurestore/internal/ingest"
)

// The Shopify standard events that become interactions. Their names are
// stored as the event_type: the features kernel maps them (FEATURES.md 1.3).
const (
	productViewed          = "product_viewed"
	productAddedToCart     = "product_added_to_cart"
	productRemovedFromCart = "product_removed_from_cart"
	checkoutCompleted      = "checkout_completed"
	collectionViewed       = "collection_viewed"
	searchSubmitted        = "search_submitted"
	pageViewed             = "page_viewed"
)

// mapper turns the events of one request into rows of user_interactions.
type mapper struct {
	shopID string
	// shopHost is the shop id when it is a host name (such as
	// example.myshopify.com), else "": a referrer from it is internal.
	shopHost string
}

func newMapper(shopID string) mapper {
	m := mapper{shopID: shopID}
	if strings.Contains(shopID, ".") && !strings.ContainsAny(shopID, "/:@ ") {
		m.shopHost = normalHost(shopID)
	}
	return m
}

// appendRows appends the rows of ev, created at at, to dst: one for a
// product view or a cart event, one per product with a line item for a
// completed checkout (two variants of one product in an order are one
// purchase of it), one without a product for a page-level event, and none
// for events of other names or without the product they are about. Every
// row carries the event's clientId, and the customer when the event names
// one, which makes it a linking row (FEATURES.md 1.4).
func (m mapper) appendRows(dst []ingest.Interaction, ev *event, at time.Time) []ingest.Interaction {
	var products []shopifyID // what the event is about, by line; "" for a line without a product
	pageLevel := false
	switch ev.Name {
	case productViewed:
		products = []shopifyID{ev.Data.ProductVariant.productID()}
	case productAddedToCart, productRemovedFromCart:
		if line := ev.Data.CartLine; line != nil {
			products = []shopifyID{line.Merchandise.productID()}
		}
	case checkoutCompleted:
		if c := ev.Data.Checkout; c != nil {
			for _, item := range c.LineItems {
				products = append(products, item.Variant.productID())
			}
		}
	case collectionViewed, searchSubmitted, pageViewed:
		pageLevel = true
	default:
		return dst
	}

	cur := currentURL(&ev.Context.Document.Location)
	ref := parseReferrer(ev.Context.Document.Referrer)
	internal := ref != nil && m.isInternal(ref.Host, cur.Host)
	page := pageType(cur.Path)
	if ev.Name == productViewed && internal {
		// A product view's page_type is the page the product was reached
		// from (FEATURES.md 1.3).
		page = pageType(ref.Path)
	}
	row := ingest.Interaction{
		// Ids are unique per shop, so the shop prefix is not what keeps
		// shops apart; it stays because rows stored with it must remain
		// the duplicates of their events sent again.
		ID:           m.shopID + "/" + ev.ID,
		ShopID:       m.shopID,
		CustomerID:   m.customer(ev),
		EventType:    ev.Name,
		PageType:     &page,
		DeviceType:   deviceType(ev.Context.Navigator.UserAgent, ev.Context.Window.InnerWidth, ev.Context.Window.Screen.Width),
		ReferrerType: referrerType(ref, internal, cur.Query()),
		CreatedAt:    at,
	}
	if ev.ClientID != "" {
		row.ClientID = &ev.ClientID
	}
	if pageLevel {
		row.Metadata = pageMetadata(ev)
		return append(dst, row)
	}
	id := row.ID
	for i, p := range products {
		if p == "" || slices.Contains(products[:i], p) {
			continue
		}
		if ev.Name == checkoutCompleted {
			// The product's first line of the checkout: the same id for
			// the same product when the pixel sends the event again.
			row.ID = id + "/" + strconv.Itoa(i)
		}
		row.ProductID = gid("Product", p)
		row.Metadata = productMetadata(ev, p)
		dst = append(dst, row)
	}
	return dst
}

// customer returns the event's customer as a gid, or nil for an anonymous
// visitor. A completed checkout names the order's customer; other events
// carry the logged-in customer the snippet adds. Emails are never used: an
// interaction row holds ids, not personal data.
func (m mapper) customer(ev *event) *string {
	if c := ev.Data.Checkout; c != nil && c.Order != nil && c.Order.Customer != nil && c.Order.Customer.ID != "" {
		return gid("Customer", c.Order.Customer.ID)
	}
	return gid("Customer", ev.CustomerID)
}

// gid returns id as a Shopify global id of the given type, as the shop's
// other data spells ids (gid://shopify/Product/123). Web pixel events carry
// bare numbers; an id that is already a gid, or not a number, is kept as
// it is. Empty is nil.
func gid(kind string, id shopifyID) *string {
	if id == "" {
		return nil
	}
	s := string(id)
	if isDigits(s) {
		s = "gid://shopify/" + kind + "/" + s
	}
	return &s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// currentURL returns the page's URL from its location snapshot: href when it
// parses, else the separate fields.
func currentURL(loc *location) *url.URL {
	if u, err := url.Parse(loc.Href); err == nil && u.Host != "" {
		return u
	}
	u := &url.URL{Host: loc.Host, Path: loc.Pathname}
	u.RawQuery = strings.TrimPrefix(loc.Search, "?")
	return u
}

// parseReferrer returns document.referrer as a URL, or nil when there is
// none (or it is not an absolute URL).
func parseReferrer(referrer string) *url.URL {
	if referrer == "" {
		return nil
	}
	u, err := url.Parse(referrer)
	if err != nil || u.Host == "" {
		return nil
	}
	return u
}

// pageSections maps the first segment of a storefront path to its page type.
var pageSections = map[string]string{
	"search":      "search",
	"collections": "collection",
	"products":    "product",
	"cart":        "cart",
	"checkout":    "checkout",
	"checkouts":   "checkout",
	"pages":       "page",
	"blogs":       "blog",
	"account":     "account",
}

// pageType classifies a storefront path: /search is search, /collections/...
// a collection (also /collections/x/products/y, a product opened from the
// collection), /products/... a product, / the home page, with or without a
// locale prefix such as /fr or /en-ca. Paths of no known kind are other.
func pageType(path string) string {
	rest := strings.Trim(path, "/")
	first, after, _ := strings.Cut(rest, "/")
	if isLocale(first) {
		rest = after
		first, _, _ = strings.Cut(rest, "/")
	}
	if rest == "" {
		return "home"
	}
	if kind, ok := pageSections[strings.ToLower(first)]; ok {
		return kind
	}
	return "other"
}

// isLocale reports whether a path segment is a Shopify Markets locale
// prefix: a language (fr) or a language and region (en-ca).
func isLocale(seg string) bool {
	lang, region, hasRegion := strings.Cut(seg, "-")
	return isLetters(lang, 2) && (!hasRegion || isLetters(region, 2))
}

func isLetters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// The device types stored, in the kernel's canonical spelling.
var (
	mobile  = "mobile"
	tablet  = "tablet"
	desktop = "desktop"
)

// deviceType classifies the device from its user agent, and from the
// screen and viewport widths where the agent cannot tell: iPadOS Safari
// presents itself as a Mac, and some agents are empty or unknown. It
// returns nil when nothing says.
func deviceType(userAgent string, innerWidth, screenWidth float64) *string {
	ua := strings.ToLower(userAgent)
	switch {
	case containsAny(ua, "ipad", "tablet", "kindle", "silk/", "playbook") ||
		strings.Contains(ua, "android") && !strings.Contains(ua, "mobile"):
		return &tablet
	case containsAny(ua, "mobi", "iphone", "ipod", "android", "windows phone", "blackberry", "opera mini"):
		return &mobile
	case strings.Contains(ua, "macintosh"):
		// No Mac has a screen narrower than 1100 CSS pixels; iPads, whose
		// Safari says "Macintosh", all do.
		if screenWidth > 0 && screenWidth < 1100 {
			return &tablet
		}
		return &desktop
	case containsAny(ua, "windows nt", "x11", "cros", "linux"):
		return &desktop
	}
	switch {
	case innerWidth <= 0:
		return nil
	case innerWidth < 768:
		return &mobile
	case innerWidth < 1024:
		return &tablet
	}
	return &desktop
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
