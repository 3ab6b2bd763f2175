package demo

import (
	"math"
	"sort"
	"time"
)

const (
	microsPerHour = int64(time.Hour / time.Microsecond)
	microsPerDay  = 24 * microsPerHour
)

// monthTraffic is the relative traffic of each calendar month: a quiet
// January and February after the holidays, and the November and December
// peak that seasonal features should pick up.
var monthTraffic = [12]float64{0.85, 0.8, 0.9, 0.9, 0.95, 0.9, 0.9, 0.95, 1.0, 1.05, 1.8, 1.9}

// hourTraffic is the relative traffic of each UTC hour: a night trough and an
// evening peak, so sessions cluster the way a shop's do.
var hourTraffic = [24]float64{
	0.45, 0.35, 0.25, 0.2, 0.2, 0.25, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0,
	1.05, 1.05, 1.0, 1.0, 1.05, 1.15, 1.3, 1.45, 1.55, 1.5, 1.2, 0.8,
}

// timeline samples instants in [start, end] (unix microseconds) with the
// shop's seasonal, weekly, daily and growth pattern, by inverting the
// cumulative traffic over hour-long buckets. Its memory is one float per hour
// of history.
type timeline struct {
	start, end int64
	cum        []float64 // cum[i] is the traffic before bucket i; len = buckets + 1
}

func newTimeline(start, end int64) *timeline {
	buckets := int((end - start + microsPerHour - 1) / microsPerHour)
	buckets = max(buckets, 1)
	tl := &timeline{start: start, end: end, cum: make([]float64, buckets+1)}
	span := float64(max(end-start, 1))
	acc := 0.0
	for i := range buckets {
		lo := start + int64(i)*microsPerHour
		hi := min(lo+microsPerHour, end)
		t := time.UnixMicro(lo).UTC()
		// The shop's traffic grows by a fifth over its history, on top
		// of the growth that customers signing up bring.
		growth := 0.9 + 0.2*float64(lo-start)/span
		w := growth * dayTraffic(t) * hourTraffic[t.Hour()]
		acc += w * float64(hi-lo) / float64(microsPerHour)
		tl.cum[i+1] = acc
	}
	return tl
}

// dayTraffic is the relative traffic of t's calendar day: its month, a
// slightly busier weekend, and the Black Friday to Cyber Monday spike.
func dayTraffic(t time.Time) float64 {
	w := monthTraffic[t.Month()-1]
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		w *= 1.1
	case time.Monday:
		w *= 1.05
	}
	if t.Month() == time.November {
		// Black Friday is the day after the fourth Thursday of November.
		first := time.Date(t.Year(), time.November, 1, 0, 0, 0, 0, time.UTC)
		thursday := 1 + (int(time.Thursday)-int(first.Weekday())+7)%7
		blackFriday := thursday + 21 + 1
		switch t.Day() - blackFriday {
		case 0:
			w *= 2.6
		case 1, 2:
			w *= 1.6
		case 3:
			w *= 2.2
		}
	}
	return w
}

// at returns the cumulative traffic up to instant t.
func (tl *timeline) at(t int64) float64 {
	t = min(max(t, tl.start), tl.end)
	i := int((t - tl.start) / microsPerHour)
	if i >= len(tl.cum)-1 {
		return tl.cum[len(tl.cum)-1]
	}
	lo := tl.start + int64(i)*microsPerHour
	hi := min(lo+microsPerHour, tl.end)
	frac := float64(t-lo) / float64(max(hi-lo, 1))
	return tl.cum[i] + frac*(tl.cum[i+1]-tl.cum[i])
}

// sample returns an instant in [from, to] drawn with the shop's traffic
// pattern; from and to are clamped to the history first.
func (tl *timeline) sample(s *stream, from, to int64) int64 {
	from = min(max(from, tl.start), tl.end)
	to = min(max(to, from), tl.end)
	lo, hi := tl.at(from), tl.at(to)
	u := lo + s.Float64()*(hi-lo)
	// The bucket i with cum[i] <= u < cum[i+1].
	i := sort.SearchFloat64s(tl.cum, u)
	if i >= len(tl.cum) || tl.cum[i] > u {
		i--
	}
	i = min(max(i, 0), len(tl.cum)-2)
	bLo := tl.start + int64(i)*microsPerHour
	bHi := min(bLo+microsPerHour, tl.end)
	w := tl.cum[i+1] - tl.cum[i]
	frac := 0.0
	if w > 0 {
		frac = (u - tl.cum[i]) / w
	}
	t := bLo + int64(math.Floor(frac*float64(bHi-bLo)))
	return min(max(t, from), to)
}
