package pixel

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/featurestore/featurestore/internal/ingest"
)

// A row's metadata keeps what an event says beyond the columns the kernel
// reads, so that a later feature can use it without the pixel having lost
// it: the variant, quantity and unit price of a cart or checkout line, and
// the query of a search. It is bounded so that it never makes an event
// unstorable: ids and currencies that cannot be real are left out, a query
// is cut, and a checkout keeps as many of a product's lines as fit.
const (
	// maxQueryBytes bounds a stored search query.
	maxQueryBytes = 1024
	// maxCurrencyBytes bounds a currency code (ISO 4217 codes have 3).
	maxCurrencyBytes = 16
)

// lineMetadata is one cart or checkout line of a product.
type lineMetadata struct {
	VariantID string   `json:"variant_id,omitempty"`
	Quantity  *float64 `json:"quantity,omitempty"`
	Price     *float64 `json:"price,omitempty"`
	Currency  string   `json:"currency,omitempty"`
}

// cartMetadata is a cart event's metadata.
type cartMetadata = lineMetadata

// checkoutMetadata is a completed checkout's metadata for one product: the
// order, and the product's lines in it.
type checkoutMetadata struct {
	OrderID  string         `json:"order_id,omitempty"`
	Currency string         `json:"currency,omitempty"`
	Lines    []lineMetadata `json:"lines"`
	// LinesOmitted counts the product's lines left out to bound the size.
	LinesOmitted int `json:"lines_omitted,omitempty"`
}

// searchMetadata is a search's metadata.
type searchMetadata struct {
	Query string `json:"query"`
}

// pageMetadata returns the metadata of a page-level event: a search's
// query, or nil.
func pageMetadata(ev *event) []byte {
	if ev.Name != searchSubmitted || ev.Data.SearchResult == nil {
		return nil
	}
	q := cleanText(string(ev.Data.SearchResult.Query), maxQueryBytes)
	if q == "" {
		return nil
	}
	return marshalMetadata(searchMetadata{Query: q})
}

// productMetadata returns the metadata of ev's row about product p: the
// cart line, or the checkout's lines of p; nil for a product view.
func productMetadata(ev *event, p shopifyID) []byte {
	switch ev.Name {
	case productAddedToCart, productRemovedFromCart:
		line := ev.Data.CartLine
		md := cartMetadata(variantLine(line.Merchandise, line.Quantity))
		if md == (cartMetadata{}) {
			return nil
		}
		return marshalMetadata(md)
	case checkoutCompleted:
		c := ev.Data.Checkout
		md := checkoutMetadata{Currency: cleanCode(string(c.CurrencyCode))}
		if c.Order != nil {
			md.OrderID = metadataID("Order", c.Order.ID)
		}
		for _, item := range c.LineItems {
			if item.Variant.productID() != p {
				continue
			}
			l := variantLine(item.Variant, item.Quantity)
			if l.Currency == md.Currency {
				l.Currency = "" // said once for the checkout
			}
			md.Lines = append(md.Lines, l)
		}
		b := marshalMetadata(md)
		for len(b) > ingest.MaxMetadataBytes && len(md.Lines) > 0 {
			md.Lines = md.Lines[:len(md.Lines)/2]
			md.LinesOmitted = countLines(c.LineItems, p) - len(md.Lines)
			b = marshalMetadata(md)
		}
		return b
	}
	return nil
}

// countLines counts the checkout's lines of product p.
func countLines(items []checkoutLine, p shopifyID) int {
	n := 0
	for _, item := range items {
		if item.Variant.productID() == p {
			n++
		}
	}
	return n
}

// variantLine describes a line of variant v with quantity q.
func variantLine(v *variant, q looseNumber) lineMetadata {
	var l lineMetadata
	if q.Valid {
		l.Quantity = &q.V
	}
	if v == nil {
		return l
	}
	l.VariantID = metadataID("ProductVariant", v.ID)
	if v.Price != nil {
		if v.Price.Amount.Valid {
			l.Price = &v.Price.Amount.V
		}
		l.Currency = cleanCode(string(v.Price.CurrencyCode))
	}
	return l
}

// metadataID returns id as a gid of the given kind, as gid spells product
// ids, or "" when it cannot be an id.
func metadataID(kind string, id looseString) string {
	if len(id) > ingest.MaxIDLength {
		return ""
	}
	if g := gid(kind, shopifyID(cleanText(string(id), ingest.MaxIDLength))); g != nil {
		return *g
	}
	return ""
}

// cleanCode returns a currency code, or "" when it cannot be one.
func cleanCode(s string) string {
	if len(s) > maxCurrencyBytes {
		return ""
	}
	return cleanText(s, maxCurrencyBytes)
}

// cleanText returns s without NUL characters (jsonb cannot hold them), cut
// to at most n bytes on a character boundary, invalid UTF-8 replaced.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// marshalMetadata writes md as JSON. encoding/json writes non-ASCII
// characters as UTF-8, never as the \u escapes jsonb refuses.
func marshalMetadata(md any) []byte {
	b, err := json.Marshal(md)
	if err != nil {
		return nil // not reachable: md holds strings and finite numbers
	}
	return b
}
