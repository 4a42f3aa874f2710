package broker

import (
	"time"
)

// Delivery: the one place where a message meets a session. route.run
// decides who gets a message (route.go); deliver decides, for one session,
// whether it is dropped, handed to an in-process handler, queued, or
// written to the client now; the send functions below are the only ones
// that write a PUBLISH to a client, and settle every outcome the same way.

// deliver hands the message to one target session; s.mu is taken here.
func (r *route) deliver(t *target) {
	s := t.s
	s.mu.Lock()
	switch c := s.client; {
	case s.ended: // a session being discarded; its subscriptions are going away
		s.drop(dropEnded)
	case t.checkRead && !r.b.canRead(s.info, r.topic()):
		s.drop(dropNotAuthorized)
	case s.sink != nil:
		s.sink.push(r.message(), t.qos, t.retain)
	case c == nil: // offline: QoS 1/2 wait for the client to come back
		if t.qos > 0 {
			r.enqueue(s, t)
		}
	case t.qos > 0 && (s.resuming || s.active() >= c.sendWindow || s.queueLen() > 0):
		r.enqueue(s, t)
	default:
		r.sendNew(c, s, t)
	}
	if t.qos > 0 && s.changed() {
		r.stored = true
	}
	s.mu.Unlock()
}

// enqueue makes s hold the message and queues it for s; s.mu held.
func (r *route) enqueue(s *session, t *target) {
	if cause := s.hold(r.message()); cause != dropNone {
		s.drop(cause)
		return
	}
	r.enqueueHeld(s, t)
}

// enqueueHeld queues a message s holds within the queue's limits (slowing
// the publisher down when s is connected and full, flow.go), releasing it
// when it does not fit; s.mu held.
func (r *route) enqueueHeld(s *session, t *target) {
	limit, over := r.queueLimit(s)
	if s.queueLen() >= limit {
		s.unhold(r.msg)
		s.drop(over)
		return
	}
	s.push(queuedMsg{m: r.msg, qos: t.qos, retain: t.retain, subIDs: cloneIDs(r.ids[t.ids0 : t.ids0+t.id]), group: t.group})
}

// sendNew writes a new delivery to c: the route's shared encoding when the
// delivery has nothing per client, else one of its own. A QoS 1/2 message
// is held first and tracked as inflight once written; if c cannot take it
// now it is queued. s.mu held.
func (r *route) sendNew(c *client, s *session, t *target) {
	ids := r.ids[t.ids0 : t.ids0+t.id]
	var pid uint16
	if t.qos > 0 {
		if cause := s.hold(r.message()); cause != dropNone {
			s.drop(cause)
			return
		}
		pid = s.allocPID()
	}
	var st writeStatus
	if len(ids) == 0 && c.aliasOutMax == 0 {
		frame, pidOff := r.form(c.version, t.qos, t.retain)
		st = c.writeFrame(frame, pidOff, pid, t.qos)
	} else {
		topic, payload, props, _ := r.source()
		sp := pubSpec{topic: topic, payload: payload, props: props, qos: t.qos, retain: t.retain, subIDs: ids}
		if r.pub == nil && r.msg.expireAt != 0 {
			sp.expiry, sp.overrideExpiry = r.msg.remainingExpiry(r.now), true
		}
		st = c.writePublish(&sp, pid)
	}
	switch st {
	case written:
		r.b.stats.msgsSent.Add(1)
		if t.qos > 0 {
			s.track(pid, r.msg, t.qos, t.retain, cloneIDs(ids), t.group)
		}
	case tooLarge, backlog:
		if t.qos > 0 {
			s.unhold(r.msg)
		}
		s.drop(st.dropCause())
	case full, closing: // QoS 1/2 wait in the queue; QoS 0 to a closing connection is gone with it
		if t.qos > 0 {
			r.enqueueHeld(s, t)
		}
	}
}

// sendQueued writes a queued (held) message to c with a new packet
// identifier. It reports false, putting the message back at the head of
// the queue, when c cannot take it now. s.mu held.
func (c *client) sendQueued(s *session, q *queuedMsg, now int64) bool {
	pid := s.allocPID()
	switch st := c.writeStored(q.m, q.qos, q.retain, false, q.subIDs, pid, now); st {
	case written:
		s.track(pid, q.m, q.qos, q.retain, q.subIDs, q.group)
		c.b.stats.msgsSent.Add(1)
	case tooLarge, backlog:
		s.unhold(q.m)
		s.drop(st.dropCause())
	default:
		s.requeueFront(*q)
		return false
	}
	return true
}

// resend writes inflight message pid again, with DUP set. It reports
// false, leaving it inflight, when c cannot take it now. s.mu held.
func (c *client) resend(s *session, pid uint16, now int64) bool {
	e := s.inflight[pid]
	switch st := c.writeStored(e.m, e.qos, e.retain, true, e.subIDs, pid, now); st {
	case written:
		c.b.stats.msgsSent.Add(1)
	case tooLarge, backlog:
		s.untrack(pid)
		s.drop(st.dropCause())
	default:
		return false
	}
	return true
}

// writeStored encodes a stored message for c (its remaining expiry
// computed at now) and writes it with packet identifier pid.
func (c *client) writeStored(m *message, qos byte, retain, dup bool, subIDs []uint32, pid uint16, now int64) writeStatus {
	sp := pubSpec{topic: m.topic, payload: m.payload, props: &m.props, qos: qos, retain: retain, dup: dup, subIDs: subIDs}
	if m.expireAt != 0 {
		sp.expiry, sp.overrideExpiry = m.remainingExpiry(now), true
	}
	return c.writePublish(&sp, pid)
}

// canRead asks the ReadAuthorizers whether the subscriber may receive a
// message on topic.
func (b *Broker) canRead(info *ClientInfo, topic string) bool {
	for _, a := range b.hooks.Load().readAuthz {
		if !a.CanRead(info, topic) {
			return false
		}
	}
	return true
}

func cloneIDs(ids []uint32) []uint32 {
	if len(ids) == 0 {
		return nil
	}
	return append([]uint32(nil), ids...)
}

// routeMessage delivers an owned message (a will, an in-process publish, a
// $SYS update) from outside any client's reader.
func (b *Broker) routeMessage(m *message, now time.Time) int {
	var r route
	if m.retain && !b.storeRetained(m) {
		return 0
	}
	r.reset(b, nil, m, nil, now)
	return r.run()
}

// publishMessage delivers an owned message published on this node (an
// in-process publish or a will) here and on the peers with a matching
// route.
func (b *Broker) publishMessage(m *message, now time.Time) {
	var r route
	if m.retain && !b.retain(m) {
		return
	}
	r.reset(b, nil, m, nil, now)
	r.run()
	r.forward(nil)
}
