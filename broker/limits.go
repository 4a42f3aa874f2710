package broker

import (
	"math"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/jmqx/jmqx/broker/packet"
)

// Quotas beyond the protocol's own limits: connection rate, message and
// byte rates per client and per broker, subscriptions per session and the
// size of the retained store (Config documents each answer). Rates use
// token buckets whose burst is one second's worth.

// limiters are the broker-wide rate limiters. Their rates follow the
// Config at once; rate.Limiter is safe for concurrent use.
type limiters struct {
	connects *rate.Limiter
	messages *rate.Limiter
	bytes    *rate.Limiter
}

// set (re)configures the limiters from cfg.
func (l *limiters) set(cfg *Config) {
	if l.connects == nil {
		l.connects = rate.NewLimiter(rate.Inf, 0)
		l.messages = rate.NewLimiter(rate.Inf, 0)
		l.bytes = rate.NewLimiter(rate.Inf, 0)
	}
	setRate(l.connects, cfg.MaxConnectRate)
	setRate(l.messages, cfg.MaxMessageRate)
	setRate(l.bytes, cfg.MaxByteRate)
}

// setRate gives lim the rate r per second (0: unlimited) and a burst of
// one second's worth.
func setRate(lim *rate.Limiter, r float64) {
	if r <= 0 {
		lim.SetLimit(rate.Inf)
		return
	}
	lim.SetLimit(rate.Limit(r))
	lim.SetBurst(burstOf(r))
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
	if prev == nil {
		return rate.NewLimiter(rate.Limit(r), burstOf(r))
	}
	setRate(prev, r)
	return prev
}

// admitPublish applies the broker-wide rates and the retained quota to a
// PUBLISH the client may send; it returns Success or QuotaExceeded.
func (c *client) admitPublish(cfg *Config, p *packet.Publish, now time.Time) packet.ReasonCode {
	b := c.b
	if cfg.MaxMessageRate > 0 && !b.limits.messages.AllowN(now, 1) {
		return b.overQuota(c, "max_message_rate", p.Topic)
	}
	if cfg.MaxByteRate > 0 && !b.limits.bytes.AllowN(now, len(p.Payload)) {
		return b.overQuota(c, "max_byte_rate", p.Topic)
	}
	if p.Retain && len(p.Payload) > 0 && !b.retainedFits(cfg, p.Topic, len(p.Payload)) {
		return b.overQuota(c, "max_retained_messages/max_retained_bytes", p.Topic)
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
