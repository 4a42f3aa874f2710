package broker

import (
	"time"

	"github.com/jmqx/jmqx/internal/packet"
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
		if !w.m.acquire(b.mem) { // the session holds its will until it is published or discarded
			b.stats.memoryRefusals.Add(1)
			return errMemoryBudget
		}
	}

	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		b.releaseWill(w)
		return ErrClosed
	}
	var (
		prev        *client
		pendingWill *will // delayed will of an earlier connection
		oldWill     *will // a delayed will discarded because the session continues
		dropped     *session
		left        []leftMsg // dropped's shared groups' messages
		willNoted   bool      // the peers know of a will of the previous session
	)
	s := b.sessions[cp.ClientID]
	if s != nil {
		s.mu.Lock()
		prev = s.client
		// A session whose connection asked for none (clean session, or
		// Session Expiry 0) ends with that connection: a takeover finds
		// no session to resume, whether or not the old connection's
		// DISCONNECT has been processed yet [MQTT-3.1.2-4, MQTT-3.1.2-11].
		discard := cp.CleanStart || s.expiry == 0
		if prev != nil {
			// The old connection's will goes out unless the session continues
			// and the will was delayed [MQTT-3.1.3-9]. The old connection
			// decides when it ends, after the packets it had already received
			// (a DISCONNECT among them discards the will [MQTT-3.1.2-10]); it
			// is handed over here, under the session lock detach also takes.
			if w := s.will; w != nil && (discard || w.delay == 0) {
				prev.orphanWill = w
			} else {
				oldWill = w
			}
		} else {
			pendingWill = s.will
		}
		s.will = nil
		willNoted, s.willNoted = s.willNoted, false
		s.stopTimersLocked()
		if discard {
			s.ended = true
			s.client = nil
			s.online.Store(false)
			s.releaseWaiters()
			left = s.sharedLeft()
			s.discardMessages()
			s.changed()
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
	info := c.info
	s.info = &info
	s.online.Store(true)
	s.expiry = expiry
	s.will = w
	s.willNoted = s.willNoted || willNoted
	s.noteWillLocked()
	s.resuming = true
	c.sess = s
	s.changed()
	c.writeControl(ack)
	s.mu.Unlock()
	b.mu.Unlock()

	if prev != nil {
		prev.kick(packet.SessionTakenOver, ErrSessionTakenOver)
	}
	if dropped != nil {
		b.removeSubscriptions(dropped)
		b.redeliverShared(dropped, left)
	}
	// A pending delayed will goes out if the session it belonged to has
	// just ended.
	if pendingWill != nil && dropped != nil {
		b.publishWill(s, pendingWill)
	} else {
		b.releaseWill(pendingWill)
	}
	b.releaseWill(oldWill)
	return nil
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
		if !clean {
			b.publishWill(s, w)
		} else {
			b.releaseWill(w)
		}
		return
	}
	s.client = nil
	s.online.Store(false)
	s.offlineSince = time.Now()
	s.gen++
	gen := s.gen
	s.pending = s.pending[:0] // all inflight messages are resent on the next connection
	s.releaseWaiters()        // an offline queue does not slow publishers down
	s.slow = false
	c.aliasesOut, c.aliasOutBytes = nil, 0
	w := s.will
	s.will = nil
	if clean {
		b.releaseWill(w) // [MQTT-3.1.2-10]
		w = nil
	}
	ended := s.expiry == 0
	var left []leftMsg
	if ended {
		s.ended = true
		left = s.sharedLeft()
		s.discardMessages()
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
	s.noteWillLocked()
	s.changed()
	s.mu.Unlock()
	b.mu.Unlock()
	if ended {
		b.removeSubscriptions(s)
		b.redeliverShared(s, left)
	}
	b.publishWill(s, w)
}
