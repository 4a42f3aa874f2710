package tenant

import (
	"sync/atomic"
	"time"
)

// PasswordCheckWait is the longest a password check waits for one of the
// Host's HostConfig.MaxConcurrentPasswordChecks slots, unless the broker's
// connect timeout is shorter (then it waits that long). A check that gets
// no slot in time is refused with CONNACK 0x89 Server busy.
const PasswordCheckWait = 5 * time.Second

// checkLimiter bounds how many password hash verifications run at once, so
// that the memory they take (up to MaxArgon2Memory each) is bounded too. A
// Host has one, shared by the guards of all its tenants: the memory is the
// node's. A nil *checkLimiter does not limit. Its methods are safe for
// concurrent use.
type checkLimiter struct {
	slots   chan struct{} // one element per verification running
	wait    time.Duration // how long acquire waits for a slot
	waiting atomic.Int64  // acquires waiting for a slot now
}

// newCheckLimiter returns a limiter of n concurrent verifications (n > 0)
// whose acquire waits at most wait.
func newCheckLimiter(n int, wait time.Duration) *checkLimiter {
	return &checkLimiter{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most l.wait for one, and reports whether
// it got it. Each successful acquire must be followed by one release.
func (l *checkLimiter) acquire() bool {
	if l == nil {
		return true
	}
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// release frees a slot taken by acquire.
func (l *checkLimiter) release() {
	if l != nil {
		<-l.slots
	}
}

// limit is the number of slots.
func (l *checkLimiter) limit() int { return cap(l.slots) }

// inUse reports how many slots are taken, and waiters how many acquires are
// waiting for one (for tests and diagnostics).
func (l *checkLimiter) inUse() int     { return len(l.slots) }
func (l *checkLimiter) waiters() int64 { return l.waiting.Load() }
