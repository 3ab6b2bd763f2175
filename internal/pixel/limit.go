package pixel

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Rate requests a second on average, up to Burst
// at once. A zero Rate means no limit.
type Limit struct {
	Rate  float64
	Burst int
}

// Default limits: a browser sends a few events per page view, and many
// visitors may share an address (an office, a mobile carrier's NAT); a
// shop's storefront at a busy moment sends thousands of requests a second.
var (
	DefaultIPLimit   = Limit{Rate: 20, Burst: 100}
	DefaultShopLimit = Limit{Rate: 2000, Burst: 4000}
)

// maxTracked bounds the buckets of one limit kept in memory, per
// generation (see limiters).
const (
	maxTrackedIPs   = 50_000
	maxTrackedShops = 10_000
)

// limiters holds one token bucket per key (a client address, a shop) in
// two generations: when the current one is full it becomes the previous
// one and the one before is dropped. A key used in either generation keeps
// its bucket, so memory stays within twice the bound while the buckets of
// active clients survive; a dropped bucket was idle for a whole
// generation, and comes back full, as an idle bucket would be.
type limiters struct {
	limit     Limit
	max       int
	mu        sync.Mutex
	cur, prev map[string]*rate.Limiter
}

func newLimiters(l Limit, max int) *limiters {
	return &limiters{limit: l, max: max, cur: map[string]*rate.Limiter{}}
}

// allow takes a token for key at now, or says how long until one is due.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.limit.Rate <= 0 {
		return true, 0
	}
	lim := l.get(key)
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiters) get(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.cur[key]; ok {
		return lim
	}
	lim, ok := l.prev[key]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(l.limit.Rate), max(1, l.limit.Burst))
	}
	if len(l.cur) >= l.max {
		l.prev, l.cur = l.cur, make(map[string]*rate.Limiter, l.max)
	}
	l.cur[key] = lim
	return lim
}

// tracked is the number of buckets held.
func (l *limiters) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.prev)
}

// tooMany answers 429 with the seconds until a request may succeed.
func tooMany(w http.ResponseWriter, wait time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
	writeError(w, http.StatusTooManyRequests, msg)
}

// clientKey is the rate-limit key of r's client: its address, or, for an
// IPv6 address, its /64 network, which one host usually has whole. Behind
// a trusted proxy the client is the last address in X-Forwarded-For that
// is not itself a trusted proxy.
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	addr := clientAddr(r, trusted)
	if !addr.IsValid() {
		return r.RemoteAddr
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		addr = hop.Unmap()
		if !isTrusted(addr, trusted) {
			return addr
		}
	}
	return addr
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseProxies reads comma-separated addresses and networks (10.0.0.1,
// 10.0.0.0/8, fd00::/8) of trusted proxies.
func ParseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, err
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
