package cache

import (
	"sync"
	"time"
)

// breaker stops calls to Redis while it is failing: after threshold
// failures in a row it opens for a cooldown, then lets one call through to
// probe; a success closes it, a failure opens it again for twice as long, up
// to maxCooldown.
type breaker struct {
	mu          sync.Mutex
	threshold   int
	cooldown    time.Duration
	maxCooldown time.Duration
	now         func() time.Time

	failures int
	wait     time.Duration
	openTill time.Time
	probing  bool
}

func newBreaker(threshold int, cooldown, maxCooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, maxCooldown: maxCooldown, now: time.Now, wait: cooldown}
}

// allow reports whether a call may go to Redis now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.threshold {
		return true
	}
	if b.probing || b.now().Before(b.openTill) {
		return false
	}
	b.probing = true
	return true
}

// success records a call that Redis answered.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures, b.probing, b.wait = 0, false, b.cooldown
}

// failure records a call that failed, and reports whether the breaker is
// now open.
func (b *breaker) failure() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if b.probing {
		b.wait = min(2*b.wait, b.maxCooldown)
	}
	b.probing = false
	if b.failures >= b.threshold {
		b.openTill = b.now().Add(b.wait)
		return true
	}
	return false
}

// release ends a call that gave no verdict on Redis (its caller went away),
// so that a probe's slot is not held for ever.
func (b *breaker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}

// open reports whether the breaker currently turns calls away.
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures >= b.threshold
}

// trip opens the breaker at once, as when Redis is down at start.
func (b *breaker) trip() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures = max(b.failures, b.threshold)
	b.openTill = b.now().Add(b.wait)
}
