package demo

import (
	"math"
	"math/rand/v2"
)

// Stream domains keep the draws of different row kinds apart: the events of
// customer 7 and the orders of customer 7 come from unrelated streams, so
// each can be regenerated on its own, in any pass, without the other.
const (
	domainSetup uint64 = iota + 1
	domainProduct
	domainProfile
	domainNames
	domainOrders
	domainEvents
	domainIdentity
)

// splitmix64 scrambles x so that neighbouring seeds and indices give
// unrelated PCG states.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// stream is a reseedable random source. One stream is reused for every row
// of a pass, so regenerating a customer costs no allocation.
type stream struct {
	pcg rand.PCG
	*rand.Rand
}

func newStream() *stream {
	s := &stream{}
	s.Rand = rand.New(&s.pcg)
	return s
}

// reset positions s at the start of the stream for (seed, domain, index):
// the draws of one row depend only on these three, never on what was drawn
// before, which is what lets Seed regenerate orders for the events pass.
func (s *stream) reset(seed int64, domain, index uint64) {
	a := splitmix64(uint64(seed) ^ splitmix64(domain))
	s.pcg.Seed(a, splitmix64(a^splitmix64(index^domain<<56)))
}

// chance reports true with probability p.
func (s *stream) chance(p float64) bool { return s.Float64() < p }

// geometric returns 1 + an exponential of the given mean, rounded down and
// capped: the length of a session or a run of browsing.
func (s *stream) geometric(mean float64, limit int) int {
	return min(limit, 1+int(s.ExpFloat64()*mean))
}

// logNormal returns a log-normal value with the given median.
func (s *stream) logNormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*s.NormFloat64())
}

// mix picks an index with fixed relative weights; it is for the small
// vocabularies (devices, referrers, page types), where a linear scan beats
// anything cleverer.
type mix struct{ cum []float64 }

func newMix(weights ...float64) mix {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	cum := make([]float64, len(weights))
	acc := 0.0
	for i, w := range weights {
		acc += w
		cum[i] = acc / total
	}
	cum[len(cum)-1] = 1
	return mix{cum: cum}
}

func (m mix) pick(s *stream) int {
	u := s.Float64()
	for i, c := range m.cum {
		if u < c {
			return i
		}
	}
	return len(m.cum) - 1
}

// alias samples from a large discrete distribution in O(1) (Vose's alias
// method); it serves product popularity, drawn once per event.
type alias struct {
	prob  []float64
	alias []int32
}

func newAlias(weights []float64) alias {
	n := len(weights)
	a := alias{prob: make([]float64, n), alias: make([]int32, n)}
	total := 0.0
	for _, w := range weights {
		total += w
	}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, w := range weights {
		scaled[i] = w * float64(n) / total
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l := small[len(small)-1]
		small = small[:len(small)-1]
		g := large[len(large)-1]
		a.prob[l] = scaled[l]
		a.alias[l] = g
		scaled[g] -= 1 - scaled[l]
		if scaled[g] < 1 {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	// Whatever is left holds probability 1 up to rounding.
	for _, i := range large {
		a.prob[i], a.alias[i] = 1, i
	}
	for _, i := range small {
		a.prob[i], a.alias[i] = 1, i
	}
	return a
}

func (a alias) pick(s *stream) int32 {
	i := s.IntN(len(a.prob))
	if s.Float64() < a.prob[i] {
		return int32(i)
	}
	return a.alias[i]
}

// apportion splits total into integer shares proportional to weights, each
// share the floor or the ceiling of its quota and the shares summing to
// total exactly (systematic sampling with offset u in [0, 1)). It needs no
// sort, so it stays O(len(weights)).
func apportion(weights []float64, total int64, u float64, out []int64) {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	if sum <= 0 || total == 0 {
		clear(out)
		if total > 0 && len(out) > 0 {
			out[len(out)-1] = total
		}
		return
	}
	acc := 0.0
	prev := int64(0)
	for i, w := range weights {
		acc += w
		var cut int64
		if i == len(weights)-1 {
			cut = total
		} else {
			cut = min(total, int64(math.Floor(acc/sum*float64(total)+u)))
		}
		cut = max(cut, prev)
		out[i] = cut - prev
		prev = cut
	}
}
