package pixel

import (
	"net/url"
	"strings"
)

// The referrer types stored. The kernel keeps referrer_type as text and
// counts every value but direct and internal as external (FEATURES.md 1.3).
var (
	referrerDirect   = "direct"
	referrerInternal = "internal"
	referrerSearch   = "search_engine"
	referrerSocial   = "social"
	referrerEmail    = "email"
	referrerPaid     = "paid"
	referrerOther    = "referral"
)

// referrerType classifies how the visitor reached the page. Campaign
// parameters on the page's URL come first, because an ad click or a
// newsletter link carries them whatever the referrer says (email clients
// send none): utm_medium names paid or email traffic, and ad networks' click
// ids (gclid, msclkid, ...) mark paid clicks. Then an empty referrer is
// direct, the shop's own pages are internal, and other sites are search
// engines, social networks, webmail or plain referrals.
func referrerType(ref *url.URL, internal bool, query url.Values) *string {
	switch medium := strings.ToLower(query.Get("utm_medium")); {
	case paidMediums[medium] || strings.HasPrefix(medium, "paid") || hasAny(query, adClickIDs):
		return &referrerPaid
	case emailMediums[medium]:
		return &referrerEmail
	}
	switch {
	case ref == nil:
		return &referrerDirect
	case internal:
		return &referrerInternal
	}
	host := normalHost(ref.Host)
	switch {
	case matchesDomain(host, webmailHosts) || strings.HasPrefix(host, "webmail."):
		return &referrerEmail
	case hasBrandLabel(host, searchEngines):
		return &referrerSearch
	case matchesDomain(host, socialDomains) || hasBrandLabel(host, socialBrands):
		return &referrerSocial
	}
	return &referrerOther
}

// isInternal reports whether a referrer host is the shop itself: the page's
// own host, the shop id when it is a host name, or Shopify's checkout and
// Shop Pay, through which every purchase passes.
func (m mapper) isInternal(refHost, pageHost string) bool {
	h := normalHost(refHost)
	return h != "" && (h == normalHost(pageHost) || h == m.shopHost || matchesDomain(h, checkoutDomains))
}

// normalHost lower-cases a host and drops its port and a leading "www.", so
// that shop.com and www.shop.com:443 compare equal.
func normalHost(host string) string {
	host = strings.ToLower(host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return strings.TrimPrefix(host, "www.")
}

// matchesDomain reports whether host is one of domains or a subdomain of one.
func matchesDomain(host string, domains []string) bool {
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// hasBrandLabel reports whether host is brand followed only by a public
// suffix, whatever the country: google.com, www.google.co.uk, search.yahoo.co.jp
// but not google.example.com. Labels of at most three letters after the
// brand pass for a suffix.
func hasBrandLabel(host string, brands map[string]bool) bool {
	labels := strings.Split(host, ".")
	for i, l := range labels {
		if !brands[l] || i == len(labels)-1 {
			continue
		}
		suffix := true
		for _, s := range labels[i+1:] {
			suffix = suffix && len(s) <= 3
		}
		if suffix {
			return true
		}
	}
	return false
}

func hasAny(query url.Values, keys []string) bool {
	for _, k := range keys {
		if query.Has(k) {
			return true
		}
	}
	return false
}

var (
	paidMediums = map[string]bool{
		"cpc": true, "ppc": true, "cpm": true, "cpv": true, "cpa": true, "display": true,
		"ads": true, "ad": true, "retargeting": true, "remarketing": true, "shopping": true,
	}
	emailMediums = map[string]bool{"email": true, "e-mail": true, "e_mail": true, "newsletter": true}
	// adClickIDs are added to a landing URL only by a click on an ad
	// (fbclid is not among them: Facebook adds it to every outbound link).
	adClickIDs      = []string{"gclid", "gbraid", "wbraid", "dclid", "msclkid", "ttclid"}
	checkoutDomains = []string{"checkout.shopify.com", "shop.app"}
	webmailHosts    = []string{"mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com",
		"mail.yahoo.com", "mail.aol.com", "mail.proton.me", "mail.zoho.com", "mail.yandex.ru"}
	searchEngines = map[string]bool{
		"google": true, "bing": true, "yahoo": true, "duckduckgo": true, "baidu": true, "yandex": true,
		"ecosia": true, "ask": true, "naver": true, "seznam": true, "qwant": true, "startpage": true, "brave": true,
	}
	socialDomains = []string{"facebook.com", "fb.com", "fb.me", "instagram.com", "t.co", "twitter.com", "x.com",
		"pin.it", "linkedin.com", "lnkd.in", "tiktok.com", "reddit.com", "youtube.com", "youtu.be", "snapchat.com",
		"threads.net", "whatsapp.com", "wa.me", "tumblr.com", "vk.com", "t.me", "telegram.org", "quora.com", "discord.com"}
	socialBrands = map[string]bool{"pinterest": true}
)
