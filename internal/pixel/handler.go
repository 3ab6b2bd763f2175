package pixel

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/ingest"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/store"
)

// DefaultMaxBody bounds a request's body when Config leaves it zero: a
// completed checkout of a large cart is a few hundred KiB at most.
const DefaultMaxBody = 1 << 20

// bodyReadTimeout bounds the time a request's body may take to arrive.
const bodyReadTimeout = 10 * time.Second

// KeyVerifier checks the pixel keys of requests; *auth.Verifier
// implements it. Verify must return an *auth.Error for a key that is
// missing or does not work, and another error when it cannot tell (the
// database is unavailable).
type KeyVerifier interface {
	Verify(ctx context.Context, secret string) (*auth.Key, error)
}

var _ KeyVerifier = (*auth.Verifier)(nil)

// Config adjusts a Handler.
type Config struct {
	// Origins is the CORS policy of keys that list no origins of their
	// own (and of every request without Keys); nil means DefaultOrigins.
	Origins *Origins
	// MaxBodyBytes bounds a request's body; zero means DefaultMaxBody.
	MaxBodyBytes int64
	// Keys checks the pixel key that each request's URL must carry. Nil
	// takes events without keys, which only a server without
	// authentication (--auth none, on loopback) does.
	Keys KeyVerifier
	// IPLimit and ShopLimit bound the requests of one client address and
	// of one shop; a zero Rate means no limit.
	IPLimit, ShopLimit Limit
	// TrustedProxies are the proxies whose X-Forwarded-For header names
	// the client; without them the client is the connection's peer.
	TrustedProxies []netip.Prefix
}

// Store is what the endpoint needs of the database; *store.Store
// implements it.
type Store interface {
	// StorePixelEvents must, in one transaction, lock the sessions of
	// clients (sorted, distinct; creating the missing ones with zero
	// state), call plan with them in that order, and store what plan
	// returns: the rows as Store.WriteInteractions does (duplicates
	// counted, not stored), the durations of views that have none yet and
	// the sessions' new states. An error from plan must roll everything
	// back and be returned as it is; failures to reach Postgres wrap
	// store.ErrUnavailable.
	StorePixelEvents(ctx context.Context, shopID string, clients []string,
		plan func(sessions []store.PixelSession) (store.PixelWrite, error)) (store.IngestResult, error)
	// PrunePixelSessions must remove the sessions not updated for longer
	// than idle and return how many it removed.
	PrunePixelSessions(ctx context.Context, idle time.Duration) (int64, error)
}

var _ Store = (*store.Store)(nil)

// Handler serves the web pixel endpoint.
type Handler struct {
	store   Store
	origins *Origins
	maxBody int64
	keys    KeyVerifier
	ips     *limiters
	shops   *limiters
	proxies []netip.Prefix
	logger  *slog.Logger
	mux     *http.ServeMux
	now     func() time.Time
}

// NewHandler returns the endpoint, storing into st.
func NewHandler(st Store, cfg Config, logger *slog.Logger) *Handler {
	h := &Handler{
		store: st, origins: cfg.Origins, maxBody: cfg.MaxBodyBytes,
		keys: cfg.Keys, ips: newLimiters(cfg.IPLimit, maxTrackedIPs), shops: newLimiters(cfg.ShopLimit, maxTrackedShops),
		proxies: cfg.TrustedProxies, logger: logger, mux: http.NewServeMux(), now: time.Now,
	}
	if h.origins == nil {
		h.origins, _ = ParseOrigins(DefaultOrigins)
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBody
	}
	h.mux.HandleFunc("POST /v1/pixel/{shop_id}", h.collect)
	h.mux.HandleFunc("OPTIONS /v1/pixel/{shop_id}", h.preflight)
	h.mux.HandleFunc("/v1/pixel/{shop_id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not supported here: POST events to this URL", r.Method))
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: POST events to /v1/pixel/{shop_id}?key=PIXEL_KEY")
	})
	return h
}

// ServeHTTP answers one request to the endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// response is the answer to a stored request.
type response struct {
	Inserted   int64 `json:"inserted"`
	Duplicates int64 `json:"duplicates"`
	// Ignored counts the events that make no interaction: other event
	// names, and events without the product they are about.
	Ignored int `json:"ignored"`
}

// errorResponse is every error's answer.
type errorResponse struct {
	Error      string      `json:"error"`
	Violations []violation `json:"violations,omitempty"`
	// More counts the violations found beyond those listed.
	More int `json:"more,omitempty"`
}

// violation is one field of one event that cannot be stored.
type violation struct {
	Event  int    `json:"event"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// collect stores the events of one request.
func (h *Handler) collect(w http.ResponseWriter, r *http.Request) {
	shopID := r.PathValue("shop_id")
	if !h.admit(w, r, shopID, true) {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && mt != "text/plain") {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("content type %q is not accepted: send application/json, or text/plain to spare the browser a preflight", ct))
			return
		}
	}
	// A browser sends its few KiB at once; a body that trickles in holds a
	// connection for nothing. (Recorders in tests cannot set deadlines.)
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes: send fewer events per request", h.maxBody))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "the body could not be read")
		return
	}
	events, err := decodeEvents(body)
	var textErr *textError
	switch {
	case errors.As(err, &textErr):
		writeJSON(w, http.StatusBadRequest, &errorResponse{
			Error:      "the body is not valid UTF-8, as JSON must be; nothing was stored",
			Violations: []violation{{Event: textErr.event, Field: textErr.field, Reason: textErr.reason}},
		})
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	b, bad := prepare(shopID, events, h.now())
	if bad != nil {
		writeJSON(w, http.StatusBadRequest, bad)
		return
	}
	res, err := h.storeWithSessions(r.Context(), shopID, b.rows, b.timings)
	if err != nil {
		h.storeError(w, r, err, b.rowEvent)
		return
	}
	writeJSON(w, http.StatusOK, response{Inserted: res.Inserted, Duplicates: res.Duplicates, Ignored: b.ignored})
}

// storeError answers a request that could not be stored.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error, rowEvent []int) {
	var verr *ingest.ValidationError
	switch {
	case errors.As(err, &verr):
		writeJSON(w, http.StatusBadRequest, rowViolations(verr, rowEvent))
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; there is nobody to answer.
	case errors.Is(err, store.ErrUnavailable):
		h.logger.WarnContext(r.Context(), "pixel: postgres unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the database is unavailable; retry later")
	default:
		h.logger.ErrorContext(r.Context(), "pixel: store events", "shop_id", r.PathValue("shop_id"), "error", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// preflight answers a browser's CORS preflight.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	if !h.admit(w, r, r.PathValue("shop_id"), false) {
		return
	}
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	w.Header().Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// batch is one request's events made ready to store.
type batch struct {
	rows ingest.Rows
	// rowEvent is the index of the event each row comes from.
	rowEvent []int
	// timings are the events of clients with a clientId, by client, then time.
	timings []timing
	ignored int
}

// prepare checks the events that Shopify always fills in and turns them
// into rows. receivedAt is when the request arrived: an event cannot have
// happened later, so a client clock running ahead is corrected to it.
func prepare(shopID string, events []event, receivedAt time.Time) (batch, *errorResponse) {
	var b batch
	var bad errorResponse
	m := newMapper(shopID)
	for i := range events {
		ev := &events[i]
		at, ok := checkEvent(i, ev, &bad)
		if !ok {
			continue
		}
		if at.After(receivedAt) {
			at = receivedAt
		}
		first := len(b.rows)
		b.rows = m.appendRows(b.rows, ev, at)
		for range len(b.rows) - first {
			b.rowEvent = append(b.rowEvent, i)
		}
		if len(b.rows) == first {
			b.ignored++
		}
		if ev.ClientID != "" {
			t := timing{clientID: ev.ClientID, at: at, viewRow: -1}
			if ev.Name == productViewed && len(b.rows) > first {
				t.viewRow = first
			}
			b.timings = append(b.timings, t)
		}
	}
	if len(bad.Violations) > 0 || bad.More > 0 {
		n := len(bad.Violations) + bad.More
		bad.Error = fmt.Sprintf("%d field(s) of the events are missing or malformed; nothing was stored", n)
		return batch{}, &bad
	}
	slices.SortStableFunc(b.timings, func(a, b timing) int {
		return cmp.Or(cmp.Compare(a.clientID, b.clientID), a.at.Compare(b.at))
	})
	return b, nil
}

// checkEvent checks the fields of event i that Shopify always sends and
// returns its time. It adds what is wrong to bad.
func checkEvent(i int, ev *event, bad *errorResponse) (time.Time, bool) {
	add := func(field, reason string) {
		if len(bad.Violations) < ingest.MaxViolations {
			bad.Violations = append(bad.Violations, violation{Event: i, Field: field, Reason: reason})
		} else {
			bad.More++
		}
	}
	before := len(bad.Violations) + bad.More
	if ev.ID == "" {
		add("id", "is required")
	}
	if ev.Name == "" {
		add("name", "is required")
	}
	if reason := invalid.CheckText(ev.ClientID, ingest.MaxIDLength); reason != "" {
		add("clientId", reason)
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
	if err != nil {
		add("timestamp", fmt.Sprintf("%q is not an ISO 8601 time such as 2025-06-01T12:00:00.000Z", ev.Timestamp))
	}
	return at, len(bad.Violations)+bad.More == before
}

// rowViolations names the violations of rows by the events they come from.
func rowViolations(verr *ingest.ValidationError, rowEvent []int) *errorResponse {
	out := &errorResponse{
		Error: fmt.Sprintf("%d field(s) of the events cannot be stored; nothing was stored", verr.Total),
		More:  verr.Total - len(verr.Violations),
	}
	for _, v := range verr.Violations {
		if v.Row < 0 {
			out.Error = "the events make too many interactions: " + v.Reason + "; send fewer events per request"
			continue
		}
		out.Violations = append(out.Violations, violation{Event: rowEvent[v.Row], Field: v.Field, Reason: v.Reason})
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorResponse{Error: msg})
}
