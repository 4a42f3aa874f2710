package broker

import (
	"github.com/jmqx/jmqx/broker/packet"
)

// Publisher flow control. A connected session whose queue has reached
// MaxQueuedMessages still accepts QoS 1/2 messages (up to onlineQueueFactor
// times the limit), but every publisher feeding it then has its PUBACK and
// PUBREC held back until the queue drains below the limit. Publishers that
// honour Receive Maximum (every MQTT 5 client, and 3.x clients with an
// inflight limit) therefore slow down to the pace of the slowest
// subscriber instead of having their acknowledged messages dropped. No
// reader ever blocks, so publishers feeding each other cannot deadlock.
// Offline sessions keep the plain MaxQueuedMessages bound.

// onlineQueueFactor bounds a connected session's queue, in multiples of
// MaxQueuedMessages, while publishers are being slowed down.
const onlineQueueFactor = 10

// deferredAck is a PUBACK or PUBREC held back by flow control.
type deferredAck struct {
	typ packet.Type
	pid uint16
	rc  packet.ReasonCode
}

// ackPublish sends the PUBACK or PUBREC of an inbound PUBLISH, or holds it
// back while the publisher waits on congested sessions. Acknowledgements
// keep the order of the PUBLISH packets [MQTT-4.6.0-2].
func (c *client) ackPublish(typ packet.Type, pid uint16, rc packet.ReasonCode) {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	if c.waits > 0 || len(c.deferred) > 0 {
		c.deferred = append(c.deferred, deferredAck{typ, pid, rc})
		return
	}
	c.writeAck(typ, pid, rc) // under ackMu, so a release cannot overtake it
}

// waitOn registers publisher c as slowed down by s; s.mu held.
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
}

// releaseWaiters lets every publisher waiting on s go on; s.mu held.
func (s *session) releaseWaiters() {
	for w := range s.waiters {
		w.unwait()
	}
	clear(s.waiters)
}

// unwait ends one wait of publisher c and, when none is left, sends its
// held-back acknowledgements in order.
func (c *client) unwait() {
	c.ackMu.Lock()
	defer c.ackMu.Unlock()
	c.waits--
	if c.waits > 0 {
		return
	}
	for _, a := range c.deferred {
		c.writeAck(a.typ, a.pid, a.rc)
	}
	c.deferred = nil
}

// queueFor queues a delivery for session s, slowing down the publisher when
// s is connected and its queue is full; s.mu held.
func (r *route) queueFor(s *session, online bool, qos byte, retain bool, ids []uint32) {
	q := queuedMsg{m: r.message(), qos: qos, retain: retain, subIDs: cloneIDs(ids)}
	limit := s.b.config().MaxQueuedMessages
	if online && s.queueLen() >= limit {
		if r.publisher != nil && r.publisher != s.client {
			s.waitOn(r.publisher)
		}
		limit *= onlineQueueFactor
	}
	s.enqueue(q, limit)
}
