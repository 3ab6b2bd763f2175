package pixel

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultOrigins is the origin policy when none is configured: Shopify's
// own storefront domains, and "null", the opaque origin of the sandbox
// that Shopify runs custom and app pixels in. A shop's own storefront host
// is always allowed besides (see Origins.Allows).
const DefaultOrigins = "https://*.myshopify.com,null"

// Origins decides which browser origins may post events. It is not
// authentication (the pixel key is, and anything that is not a browser
// can send any Origin): what it prevents is a page on another site making
// its visitors' browsers post events for a shop; and it tells browsers
// which pages may read the answers.
type Origins struct {
	exact map[string]bool // serialised origins, and "null"
	// wildcards are scheme://*.domain patterns: scheme plus the suffix
	// ".domain" that a host must end with.
	wildcards []wildcard
}

type wildcard struct{ scheme, suffix string }

// ParseOrigins reads a comma-separated policy whose entries are origins
// (https://shop.example.com, http://localhost:3000), wildcard origins whose
// host is one label under a domain or deeper (https://*.myshopify.com), or
// null.
func ParseOrigins(list string) (*Origins, error) {
	o := &Origins{exact: map[string]bool{}}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if entry == "null" {
			o.exact[entry] = true
			continue
		}
		u, err := url.Parse(entry)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("origin %q is not a scheme and host such as https://shop.example.com, https://*.myshopify.com or null", entry)
		}
		host := strings.ToLower(u.Host)
		if domain, ok := strings.CutPrefix(host, "*."); ok {
			if domain == "" || strings.Contains(domain, "*") {
				return nil, fmt.Errorf("origin %q: a wildcard may only stand for the first label of the host", entry)
			}
			o.wildcards = append(o.wildcards, wildcard{scheme: u.Scheme, suffix: "." + domain})
			continue
		}
		if strings.Contains(host, "*") {
			return nil, fmt.Errorf("origin %q: a wildcard may only stand for the first label of the host", entry)
		}
		o.exact[u.Scheme+"://"+host] = true
	}
	return o, nil
}

// Allows reports whether a browser at origin may post events for shopID:
// the policy lists it, or it is the shop's own storefront, an https origin
// whose host is the shop id.
func (o *Origins) Allows(origin, shopID string) bool {
	origin = strings.ToLower(origin)
	if o.exact[origin] {
		return true
	}
	scheme, host, ok := strings.Cut(origin, "://")
	if !ok || host == "" {
		return false
	}
	if scheme == "https" && host == strings.ToLower(shopID) {
		return true
	}
	for _, w := range o.wildcards {
		if scheme == w.scheme && len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return true
		}
	}
	return false
}
