package broker

import (
	"slices"
	"time"

	"github.com/jmqx/jmqx/broker/packet"
)

// attach binds c to the session of its client identifier: it takes the
// session over from a connected client (which gets DISCONNECT 0x8E), resumes
// or discards an existing one as Clean Start asks, and writes the CONNACK
// while the session is locked so no PUBLISH can precede it.
func (b *Broker) attach(c *client, cp *packet.Connect, ack *packet.Connack) error {
	now := time.Now()
	expiry := uint32(0)
	if cp.Version == packet.V5 {
		expiry = min(cp.Props.SessionExpiry, b.config().MaxSessionExpiry)
	} else if !cp.CleanStart {
		expiry = 0xFFFFFFFF
	}
	var w *will
	if cp.WillFlag {
		pub := packet.Publish{QoS: cp.WillQoS, Retain: cp.WillRetain, Topic: cp.WillTopic, Payload: cp.WillPayload, Props: cp.WillProps}
		w = &will{m: newMessage(&pub, nil, now)}
		if cp.Version == packet.V5 {
			w.delay = cp.WillProps.WillDelay
		}
	}

	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return ErrClosed
	}
	var (
		prev        *client
		pendingWill *will // delayed will of an earlier connection
		dropped     *session
	)
	s := b.sessions[cp.ClientID]
	if s != nil {
		s.mu.Lock()
		prev = s.client
		if prev != nil {
			// The old connection's will goes out unless the session continues
			// and the will was delayed [MQTT-3.1.3-9]. The old connection
			// decides when it ends, after the packets it had already received
			// (a DISCONNECT among them discards the will [MQTT-3.1.2-10]); it
			// is handed over here, under the session lock detach also takes.
			if w := s.will; w != nil && (cp.CleanStart || w.delay == 0) {
				prev.orphanWill = w
			}
		} else {
			pendingWill = s.will
		}
		s.will = nil
		s.stopTimersLocked()
		if cp.CleanStart {
			s.ended = true
			s.client = nil
			s.online.Store(false)
			s.releaseWaiters()
			s.mu.Unlock()
			dropped, s = s, nil
		} else {
			ack.SessionPresent = true
			s.mu.Unlock()
		}
	}
	if s == nil {
		s = newSession(b, cp.ClientID)
		b.sessions[cp.ClientID] = s
	}
	s.mu.Lock()
	s.gen++
	s.client = c
	s.info = &c.info
	s.online.Store(true)
	s.expiry = expiry
	s.will = w
	s.resuming = true
	c.sess = s
	c.writeControl(ack)
	s.mu.Unlock()
	b.mu.Unlock()

	if prev != nil {
		prev.kick(packet.SessionTakenOver, ErrSessionTakenOver)
	}
	if dropped != nil {
		b.removeSubscriptions(dropped)
	}
	// A pending delayed will goes out if the session it belonged to has
	// just ended.
	if pendingWill != nil && cp.CleanStart {
		b.publishWill(s, pendingWill)
	}
	return nil
}

// resume retransmits the session's unacknowledged messages in their
// original order (PUBLISH with DUP, or PUBREL) [MQTT-4.4.0-1] and then sends
// queued messages up to the inflight window.
func (c *client) resume() {
	s := c.sess
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != c {
		return
	}
	if len(s.inflight) > 0 {
		pids := make([]uint16, 0, len(s.inflight))
		for pid := range s.inflight {
			pids = append(pids, pid)
		}
		slices.SortFunc(pids, func(a, b uint16) int {
			sa, sb := s.inflight[a].seq, s.inflight[b].seq
			if sa < sb {
				return -1
			}
			if sa > sb {
				return 1
			}
			return 0
		})
		// Beyond the client's new Receive Maximum, unacknowledged PUBLISHes
		// wait, keeping their packet identifiers, until acknowledgements make
		// room [MQTT-3.3.4-9, MQTT-4.4.0-1].
		s.pending = s.pending[:0]
		sent := 0
		for _, pid := range pids {
			e := s.inflight[pid]
			if e.rel {
				c.writeAck(packet.PUBREL, pid, packet.Success)
				sent++
				continue
			}
			if sent >= c.sendWindow {
				s.pending = append(s.pending, pid)
				continue
			}
			q := queuedMsg{m: e.m, qos: e.qos, retain: e.retain, subIDs: e.subIDs}
			c.sendStored(s, &q, pid, true, now)
			sent++
		}
	}
	s.resuming = false
	c.refill(s, now)
}

// refill sends queued messages while the inflight window has room, and
// lets slowed-down publishers go on once the queue is below its limit;
// s.mu held.
func (c *client) refill(s *session, now int64) {
	defer func() {
		if len(s.waiters) > 0 && s.queueLen() < s.b.config().MaxQueuedMessages {
			s.releaseWaiters()
		}
	}()
	for len(s.pending) > 0 && s.active() < c.sendWindow {
		pid := s.pending[0]
		s.pending = s.pending[1:]
		e := s.inflight[pid]
		q := queuedMsg{m: e.m, qos: e.qos, retain: e.retain, subIDs: e.subIDs}
		if !c.sendStored(s, &q, pid, true, now) {
			s.pending = append([]uint16{pid}, s.pending...)
			return
		}
	}
	for s.active() < c.sendWindow {
		q, ok := s.dequeue()
		if !ok {
			return
		}
		if q.m.expired(now) {
			s.b.stats.msgsDropped.Add(1)
			continue
		}
		if !c.sendStored(s, &q, 0, false, now) {
			return
		}
	}
}

// detach unbinds c from its session when the connection ends. The session
// ends now (expiry 0) or later (expiry timer); the will is published now or
// after its delay, unless the client disconnected cleanly.
func (b *Broker) detach(c *client, clean bool) {
	s := c.sess
	if s == nil {
		return
	}
	b.mu.Lock()
	s.mu.Lock()
	if s.client != c { // taken over
		w := c.orphanWill
		c.orphanWill = nil
		s.mu.Unlock()
		b.mu.Unlock()
		if w != nil && !clean {
			b.publishWill(s, w)
		}
		return
	}
	s.client = nil
	s.online.Store(false)
	s.gen++
	gen := s.gen
	s.pending = s.pending[:0] // all inflight messages are resent on the next connection
	s.releaseWaiters()        // an offline queue does not slow publishers down
	c.aliasesOut = nil
	w := s.will
	s.will = nil
	if clean {
		w = nil // [MQTT-3.1.2-10]
	}
	ended := s.expiry == 0
	if ended {
		s.ended = true
		if b.sessions[s.id] == s {
			delete(b.sessions, s.id)
		}
	} else {
		if w != nil && w.delay > 0 && w.delay < s.expiry {
			s.will = w
			s.willTimer = time.AfterFunc(time.Duration(w.delay)*time.Second, func() { b.fireWill(s, gen) })
			w = nil
		} else if w != nil && w.delay > 0 {
			s.will = w // published when the session expires
			w = nil
		}
		if s.expiry != 0xFFFFFFFF {
			s.expiryTimer = time.AfterFunc(time.Duration(s.expiry)*time.Second, func() { b.expireSession(s, gen) })
		}
	}
	s.mu.Unlock()
	b.mu.Unlock()
	if ended {
		b.removeSubscriptions(s)
	}
	if w != nil {
		b.publishWill(s, w)
	}
}
