package broker

import (
	"math"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/jmqx/jmqx/internal/packet"
)

// Quotas beyond the protocol's own limits: connection rate, message and
// byte rates per client and per broker, subscriptions per session and the
// size of the retained store (Config documents each answer). Rates use
// token buckets whose burst is one second's worth.

// limiters are the broker-wide rate limiters, nil while unlimited. A
// change of rate installs a new limiter with a full bucket; rate.Limiter
// itself is safe for concurrent use.
type limiters struct {
	connects atomic.Pointer[rate.Limiter]
	messages atomic.Pointer[rate.Limiter]
	bytes    atomic.Pointer[rate.Limiter]
}

// set (re)configures the limiters from cfg.
func (l *limiters) set(cfg *Config) {
	swapRate(&l.connects, cfg.MaxConnectRate)
	swapRate(&l.messages, cfg.MaxMessageRate)
	swapRate(&l.bytes, cfg.MaxByteRate)
}

// swapRate installs a limiter of rate r per second (nil for r 0) unless
// the current one already has that rate.
func swapRate(p *atomic.Pointer[rate.Limiter], r float64) {
	cur := p.Load()
	switch {
	case r <= 0:
		p.Store(nil)
	case cur == nil || float64(cur.Limit()) != r:
		p.Store(rate.NewLimiter(rate.Limit(r), burstOf(r)))
	}
}

// allow takes n tokens from the limiter at p, if any. It reads the clock
// itself: a shared limiter given times out of order (readings taken earlier
// by other connections) would refill tokens twice.
func allow(p *atomic.Pointer[rate.Limiter], n int) bool {
	lim := p.Load()
	return lim == nil || lim.AllowN(time.Now(), n)
}

func burstOf(r float64) int {
	if r >= math.MaxInt32 {
		return math.MaxInt32
	}
	return max(1, int(math.Ceil(r)))
}

// clientLimits are one client's publish rate limiters, built on its first
// PUBLISH and rebuilt when the Config changes.
type clientLimits struct {
	cfg      *Config // the Config they were built from
	messages *rate.Limiter
	bytes    *rate.Limiter
}

// allowPublish charges one PUBLISH of size payload bytes to the client's
// limiters; it returns an error ending the connection with 0x96 when the
// client is over its rate.
func (c *client) allowPublish(cfg *Config, now time.Time, size int) error {
	if cfg.MaxClientMessageRate <= 0 && cfg.MaxClientByteRate <= 0 {
		return nil
	}
	l := &c.limits
	if l.cfg != cfg {
		l.cfg = cfg
		l.messages = newLimiter(cfg.MaxClientMessageRate, l.messages)
		l.bytes = newLimiter(cfg.MaxClientByteRate, l.bytes)
	}
	if l.messages != nil && !l.messages.AllowN(now, 1) {
		return protoErr("publishing above max_client_message_rate", packet.MessageRateTooHigh)
	}
	if l.bytes != nil && !l.bytes.AllowN(now, size) {
		return protoErr("publishing above max_client_byte_rate", packet.MessageRateTooHigh)
	}
	return nil
}

// newLimiter returns a limiter for rate r (nil when r is 0), reusing prev.
func newLimiter(r float64, prev *rate.Limiter) *rate.Limiter {
	if r <= 0 {
		return nil
	}
	if prev == nil || float64(prev.Limit()) != r {
		return rate.NewLimiter(rate.Limit(r), burstOf(r))
	}
	return prev
}

// throttleQuantum is the shortest wait a publisher over a broker-wide rate
// is held back for.
const throttleQuantum = 5 * time.Millisecond

// admitPublish applies the broker-wide rates and the retained quota to a
// PUBLISH the client may send; it returns Success or QuotaExceeded. Over
// the rates the reader waits (so the publisher's TCP window closes and it
// slows down, costing the broker nothing), up to cfg.RateWait; a PUBLISH
// that would wait longer is refused.
func (c *client) admitPublish(cfg *Config, p *packet.Publish) packet.ReasonCode {
	b := c.b
	if p.Retain && len(p.Payload) > 0 && !b.retainedFits(cfg, p.Topic, len(p.Payload)) {
		return b.overQuota(c, "max_retained_messages/max_retained_bytes", p.Topic)
	}
	msgs := b.limits.messages.Load()
	bytes := b.limits.bytes.Load()
	if msgs == nil && bytes == nil {
		return packet.Success
	}
	now := time.Now()
	maxWait := max(cfg.RateWait, 0)
	var wait time.Duration
	var rm *rate.Reservation
	if msgs != nil {
		if rm = msgs.ReserveN(now, 1); !rm.OK() || rm.DelayFrom(now) > maxWait {
			rm.CancelAt(now)
			return b.overQuota(c, "max_message_rate", p.Topic)
		}
		wait = rm.DelayFrom(now)
	}
	if bytes != nil {
		rb := bytes.ReserveN(now, len(p.Payload))
		if !rb.OK() || rb.DelayFrom(now) > maxWait {
			rb.CancelAt(now)
			if rm != nil {
				rm.CancelAt(now)
			}
			return b.overQuota(c, "max_byte_rate", p.Topic)
		}
		wait = max(wait, rb.DelayFrom(now))
	}
	// Shorter waits are not slept but owed: the reservations keep the
	// rate, and the reader sleeps once the debt reaches throttleQuantum, so
	// a paced publisher costs one wake-up per quantum, not per message.
	if wait >= throttleQuantum {
		b.stats.throttled.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.done:
			t.Stop()
		}
	}
	return packet.Success
}

// overQuota counts and logs a PUBLISH refused by a quota.
func (b *Broker) overQuota(c *client, quota, topic string) packet.ReasonCode {
	b.stats.msgsDropped.Add(1)
	if ce := b.log.Check(zap.InfoLevel, "publish refused: quota exceeded"); ce != nil {
		ce.Write(zap.String("client", c.info.ClientID), zap.String("quota", quota), zap.String("topic", topic))
	}
	return packet.QuotaExceeded
}

// retainedFits reports whether retaining size bytes on topic keeps the
// retained store within its quotas (replacing a message frees its bytes).
func (b *Broker) retainedFits(cfg *Config, topic string, size int) bool {
	if cfg.MaxRetainedMessages <= 0 && cfg.MaxRetainedBytes <= 0 {
		return true
	}
	old, exists := b.retained.Get(topic)
	if cfg.MaxRetainedMessages > 0 && !exists && b.retained.Len() >= cfg.MaxRetainedMessages {
		return false
	}
	if cfg.MaxRetainedBytes > 0 {
		grow := int64(size)
		if exists {
			grow -= int64(len(old.payload))
		}
		if grow > 0 && b.retainedBytes.Load()+grow > cfg.MaxRetainedBytes {
			return false
		}
	}
	return true
}
