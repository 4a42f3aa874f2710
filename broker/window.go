package broker

import (
	"slices"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// The outbound window: QoS 1/2 messages sent to a session's client and
// awaiting acknowledgement, at most the client's Receive Maximum (capped by
// MaxInflight) at a time; they keep their packet identifiers across
// connections and are resent in order on the next one [MQTT-4.4.0-1].

// inflightMsg is an outbound QoS 1/2 PUBLISH awaiting acknowledgement.
type inflightMsg struct {
	m      *message // nil once PUBREC arrived (the payload is no longer needed)
	qos    byte
	retain bool
	subIDs []uint32
	rel    bool        // PUBREC received and PUBREL sent (QoS 2)
	seq    uint64      // send order, for retransmission in order
	group  *shareGroup // as queuedMsg.group
}

// active returns the number of inflight messages counted against the
// client's Receive Maximum; s.mu held.
func (s *session) active() int { return len(s.inflight) - len(s.pending) }

// unpend removes pid from the not-yet-resent list; s.mu held.
func (s *session) unpend(pid uint16) {
	for i, p := range s.pending {
		if p == pid {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return
		}
	}
}

// track records a held QoS 1/2 message just sent with pid as inflight;
// s.mu held.
func (s *session) track(pid uint16, m *message, qos byte, retain bool, subIDs []uint32, group *shareGroup) {
	s.seq++
	s.inflight[pid] = inflightMsg{m: m, qos: qos, retain: retain, subIDs: subIDs, seq: s.seq, group: group}
}

// untrack ends the flow of inflight pid and releases its message; s.mu
// held.
func (s *session) untrack(pid uint16) {
	e, ok := s.inflight[pid]
	if !ok {
		return
	}
	delete(s.inflight, pid)
	if e.m != nil {
		s.unhold(e.m)
	}
}

// allocPID returns a packet identifier not in use by the inflight set;
// s.mu held.
func (s *session) allocPID() uint16 {
	for {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.inflight[s.nextPID]; !used {
			return s.nextPID
		}
	}
}

// refillCurrent lets the session's current connection send queued
// messages after an acknowledgement (which may have arrived on a connection
// being taken over) or once its outbound buffer has drained; s.mu held.
func (s *session) refillCurrent(now int64) {
	if c := s.client; c != nil && !s.resuming {
		c.refill(s, now)
	}
}

// handleOutboundAck applies a PUBACK, PUBREC or PUBCOMP from the client to
// the outbound window.
func (c *client) handleOutboundAck(a *packet.Ack) {
	s := c.sess
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.inflight[a.PacketID]
	if ok {
		s.changed()
	}
	switch a.Type {
	case packet.PUBACK:
		if ok && e.qos == 1 {
			s.untrack(a.PacketID)
			s.unpend(a.PacketID)
			s.refillCurrent(now)
		}
	case packet.PUBREC:
		if !ok || e.qos != 2 || e.rel {
			c.writeAck(packet.PUBREL, a.PacketID, v5Only(c, packet.PacketIdentifierNotFound))
			return
		}
		s.unpend(a.PacketID)
		if a.ReasonCode.IsError() { // the receiver refused it: the flow ends [MQTT-4.3.3-4]
			s.untrack(a.PacketID)
			s.refillCurrent(now)
			return
		}
		s.unhold(e.m)
		e.rel, e.m = true, nil
		s.inflight[a.PacketID] = e
		c.writeAck(packet.PUBREL, a.PacketID, packet.Success)
	case packet.PUBCOMP:
		if ok && e.rel {
			s.untrack(a.PacketID)
			s.refillCurrent(now)
		}
	}
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
		// Beyond the client's new Receive Maximum (or once the outbound
		// buffer is full), unacknowledged PUBLISHes wait, keeping their
		// packet identifiers, until acknowledgements make room
		// [MQTT-3.3.4-9, MQTT-4.4.0-1].
		s.pending = s.pending[:0]
		sent, blocked := 0, false
		for _, pid := range pids {
			e := s.inflight[pid]
			if e.rel {
				c.writeAck(packet.PUBREL, pid, packet.Success)
				sent++
				continue
			}
			if blocked || sent >= c.sendWindow {
				s.pending = append(s.pending, pid)
				continue
			}
			if !c.resend(s, pid, now) {
				blocked = true
				s.pending = append(s.pending, pid)
				continue
			}
			sent++
		}
	}
	s.resuming = false
	c.refill(s, now)
}

// refill sends pending retransmissions and then queued messages while the
// inflight window and the outbound buffer have room, and lets
// slowed-down publishers go on once the queue is below its limit; s.mu
// held.
func (c *client) refill(s *session, now int64) {
	defer s.queueDrained()
	for len(s.pending) > 0 && s.active() < c.sendWindow {
		pid := s.pending[0]
		if !c.resend(s, pid, now) {
			return
		}
		s.pending = s.pending[1:]
	}
	for s.active() < c.sendWindow {
		q, ok := s.dequeue()
		if !ok {
			return
		}
		if q.m.expired(now) {
			s.unhold(q.m)
			s.drop(dropExpired)
			continue
		}
		if !c.sendQueued(s, &q, now) {
			return
		}
	}
}
