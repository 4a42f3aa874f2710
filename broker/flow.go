package broker

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// Publisher flow control and slow consumers. A connected session whose
// queue has reached MaxQueuedMessages still accepts QoS 1/2 messages (up to
// onlineQueueFactor times the limit, and within MaxQueuedBytes), but every
// publisher feeding it then has its PUBACK and PUBREC held back until the
// queue drains below the limit. Publishers that honour Receive Maximum
// (every MQTT 5 client, and 3.x clients with an inflight limit) therefore
// slow down to the pace of the slowest subscriber instead of having their
// acknowledged messages dropped. No reader ever blocks, so publishers
// feeding each other cannot deadlock.
//
// The hold is bounded in time: a session that keeps publishers waiting for
// SlowConsumerWait is marked slow. Its publishers go on at once, and while
// it stays slow, messages beyond MaxQueuedMessages are dropped (counted as
// "slow consumer") instead of slowing anyone down, until the client reads
// its queue below the limit. Offline sessions keep the plain
// MaxQueuedMessages bound and never hold publishers back.
//
// Held-back acknowledgements are bounded too: a v5 publisher that sends
// more QoS 1/2 PUBLISHes than the Receive Maximum it was given without
// waiting for their acknowledgements gets DISCONNECT 0x93; a 3.x one is
// closed past maxHeldAcks3 (the packet identifier space).

// onlineQueueFactor bounds a connected session's queue, in multiples of
// MaxQueuedMessages, while publishers are being slowed down.
const onlineQueueFactor = 10

// maxHeldAcks3 bounds the held-back acknowledgements of a 3.x publisher,
// which has no Receive Maximum: more would reuse packet identifiers.
const maxHeldAcks3 = 65535

// deferredAck is a PUBACK or PUBREC held back by flow control.
type deferredAck struct {
	typ packet.Type
	pid uint16
	rc  packet.ReasonCode
	fw  *fwdWait // the peers it also waits for; nil: none
	dw  *fwdWait // the Store write it also waits for (StoreSync); nil: none
}

// ackPublish sends the PUBACK or PUBREC of an inbound PUBLISH, or holds it
// back while the publisher waits on congested sessions. Acknowledgements
// keep the order of the PUBLISH packets [MQTT-4.6.0-2]. It returns an
// error ending the connection when the publisher has more unacknowledged
// PUBLISHes than it may [MQTT-3.3.4-9].
//
// fw, when not nil, also holds the acknowledgement until the peers that
// should have the message have it (Peers.Forward).
func (c *client) ackPublish(typ packet.Type, pid uint16, rc packet.ReasonCode, fw, dw *fwdWait) error {
	c.ackMu.Lock()
	if c.waits == 0 && len(c.deferred) == 0 && fw.isDone() && dw.isDone() {
		c.writeAck(typ, pid, rc) // under ackMu, so a release cannot overtake it
		c.ackMu.Unlock()
		return nil
	}
	c.deferred = append(c.deferred, deferredAck{typ, pid, rc, fw, dw})
	if typ == packet.PUBACK {
		c.heldQoS1++
	}
	held, heldQoS1 := len(c.deferred), c.heldQoS1
	c.ackMu.Unlock()
	if c.version != packet.V5 {
		if held > maxHeldAcks3 {
			return protoErr("more than 65535 unacknowledged QoS 1/2 PUBLISH packets", packet.ReceiveMaximumExceeded)
		}
		return nil
	}
	// QoS 2 PUBLISHes count from PUBLISH to PUBREL: inQoS2 holds them.
	s := c.sess
	s.mu.Lock()
	unacked := heldQoS1 + len(s.inQoS2)
	s.mu.Unlock()
	if limit := c.b.config().ReceiveMaximum; unacked > limit {
		return protoErr(fmt.Sprintf("%d unacknowledged QoS 1/2 PUBLISH packets, receive maximum %d", unacked, limit),
			packet.ReceiveMaximumExceeded)
	}
	return nil
}

// waitOn registers publisher c as slowed down by s, and starts the clock
// after which s is a slow consumer; s.mu held.
func (s *session) waitOn(c *client) {
	if s.waiters == nil {
		s.waiters = make(map[*client]struct{})
	}
	if _, ok := s.waiters[c]; ok {
		return
	}
	s.waiters[c] = struct{}{}
	s.b.stats.throttled.Add(1)
	c.ackMu.Lock()
	c.waits++
	c.ackMu.Unlock()
	if s.slowTimer == nil {
		gen := s.gen
		s.slowTimer = time.AfterFunc(s.b.config().SlowConsumerWait, func() { s.markSlow(gen) })
	}
}

// markSlow makes s a slow consumer if its publishers still wait on it.
func (s *session) markSlow(gen uint64) {
	s.mu.Lock()
	s.slowTimer = nil
	if s.gen != gen || len(s.waiters) == 0 || s.client == nil {
		s.mu.Unlock()
		return
	}
	s.slow = true
	s.releaseWaiters()
	queued := s.queueLen()
	s.mu.Unlock()
	s.b.stats.slowConsumers.Add(1)
	s.b.log.Warn("slow consumer: publishers no longer wait for it; its excess messages are dropped",
		zap.String("client", s.id), zap.Int("queued", queued), zap.Duration("slow_consumer_wait", s.b.config().SlowConsumerWait))
}

// releaseWaiters lets every publisher waiting on s go on and stops the
// slow-consumer clock; s.mu held.
func (s *session) releaseWaiters() {
	for w := range s.waiters {
		w.unwait()
	}
	clear(s.waiters)
	if s.slowTimer != nil {
		s.slowTimer.Stop()
		s.slowTimer = nil
	}
}

// queueDrained runs after the client took messages from the queue: once
// the queue is below MaxQueuedMessages, waiting publishers go on and the
// session is no longer slow; s.mu held.
func (s *session) queueDrained() {
	if s.queueLen() < s.b.config().MaxQueuedMessages {
		if len(s.waiters) > 0 {
			s.releaseWaiters()
		}
		s.slow = false
	}
}

// unwait ends one wait of publisher c and, when none is left, sends its
// held-back acknowledgements in order.
func (c *client) unwait() {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	c.waits--
	c.flushAcksLocked()
}

// flushAcksLocked sends the held-back acknowledgements that nothing holds
// any more, in order: none while a congested session holds the publisher
// back, and none past one whose peers have not all answered; c.ackMu held.
func (c *client) flushAcksLocked() {
	if c.waits > 0 {
		return
	}
	n := 0
	for ; n < len(c.deferred); n++ {
		a := &c.deferred[n]
		if !a.fw.isDone() || !a.dw.isDone() {
			break
		}
		c.writeAck(a.typ, a.pid, a.rc)
		if a.typ == packet.PUBACK {
			c.heldQoS1--
		}
	}
	if n == len(c.deferred) {
		c.deferred = c.deferred[:0]
		return
	}
	c.deferred = c.deferred[:copy(c.deferred, c.deferred[n:])]
}

// queueLimit returns how many messages s's queue may hold for this
// delivery, and the drop cause past it. A connected session whose queue is
// full slows the publisher down (unless s is slow, or the publisher is its
// own client) and may hold onlineQueueFactor times more meanwhile; s.mu
// held.
func (r *route) queueLimit(s *session) (int, dropCause) {
	limit := s.b.config().MaxQueuedMessages
	if s.client == nil || s.queueLen() < limit {
		return limit, dropQueueFull
	}
	if s.slow {
		return limit, dropSlow
	}
	if r.publisher != nil && r.publisher != s.client {
		s.waitOn(r.publisher)
	}
	return limit * onlineQueueFactor, dropQueueFull
}
