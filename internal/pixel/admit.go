package pixel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/httpmw"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/invalid"
)

// admit decides whether r may post events for shopID, and answers it when
// not: the client's rate, the shop id, the pixel key of the URL (401
// without a working one, 403 for a key of another shop or without the
// pixel scope), the browser's origin (403), then, for posts (counted is
// true), the shop's rate. The cheap checks come first, so a flood costs
// no database lookups; the shop's budget is spent only by requests that
// carry its key. Refused requests store nothing.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, shopID string, counted bool) bool {
	w.Header().Add("Vary", "Origin")
	if ok, wait := h.ips.allow(clientKey(r, h.proxies), h.now()); !ok {
		tooMany(w, wait, "too many requests from this address; retry later")
		return false
	}
	if reason := invalid.CheckText(shopID, ingest.MaxIDLength); reason != "" {
		writeError(w, http.StatusBadRequest, "the shop id in the path "+reason)
		return false
	}
	key, ok := h.checkKey(w, r, shopID)
	if !ok {
		return false
	}
	if !h.allowOrigin(w, r, shopID, key) {
		return false
	}
	if counted {
		if ok, wait := h.shops.allow(shopID, h.now()); !ok {
			tooMany(w, wait, fmt.Sprintf("too many requests for shop %q; retry later", shopID))
			return false
		}
	}
	return true
}

// checkKey verifies the pixel key of r's URL for shopID. Without a
// verifier every request passes, with no key.
func (h *Handler) checkKey(w http.ResponseWriter, r *http.Request, shopID string) (*auth.Key, bool) {
	if h.keys == nil {
		return nil, true
	}
	secret := r.URL.Query().Get("key")
	if secret == "" {
		writeError(w, http.StatusUnauthorized, "a pixel key is required: post to /v1/pixel/{shop_id}?key=PIXEL_KEY "+
			"(featurestore keys create --scopes pixel --shops SHOP makes one)")
		return nil, false
	}
	key, err := h.keys.Verify(r.Context(), secret)
	if e, ok := auth.AsError(err); ok {
		writeError(w, http.StatusUnauthorized, e.Message)
		return nil, false
	}
	if err != nil {
		if !errors.Is(err, r.Context().Err()) {
			h.logger.WarnContext(r.Context(), "pixel: cannot check the pixel key", "error", err)
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the pixel key cannot be checked: the database is unavailable; retry later")
		}
		return nil, false
	}
	httpmw.AddAttrs(r.Context(), slog.String("api_key", key.Name))
	if err := key.Authorize(auth.ScopePixel, "the web pixel endpoint", shopID); err != nil {
		writeError(w, http.StatusForbidden, err.Error())
		return nil, false
	}
	return key, true
}

// allowOrigin applies the origin policy, the key's own origins when it
// lists some, else the server's, to r. A browser always sends its page's
// origin with a POST (the opaque "null" from Shopify's pixel sandbox), so
// a request without one is not from a storefront and is refused as well:
// servers send events with IngestInteractions and a secret key. An
// allowed browser may read the answer.
func (h *Handler) allowOrigin(w http.ResponseWriter, r *http.Request, shopID string, key *auth.Key) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		writeError(w, http.StatusForbidden, "the request has no Origin header: the pixel endpoint takes events from storefront pages, "+
			"whose browsers send one; send events from a server with IngestInteractions instead")
		return false
	}
	policy := h.origins
	if key != nil && len(key.Origins) > 0 {
		var err error
		if policy, err = ParseOrigins(strings.Join(key.Origins, ",")); err != nil {
			h.logger.ErrorContext(r.Context(), "pixel: the key's stored origins do not parse", "key", key.Name, "error", err)
			writeError(w, http.StatusForbidden, fmt.Sprintf("pixel key %q has origins this server cannot read; create it again", key.Name))
			return false
		}
	}
	if !policy.Allows(origin, shopID) {
		msg := fmt.Sprintf("origin %q may not send events for shop %q", origin, shopID)
		if key != nil {
			msg += fmt.Sprintf(" with pixel key %q", key.Name)
		}
		writeError(w, http.StatusForbidden, msg)
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	return true
}
