package broker

import (
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// subOpts are the options of one subscription, stored in the trie.
type subOpts struct {
	qos     byte
	noLocal bool
	rap     bool   // Retain As Published
	id      uint32 // Subscription Identifier; 0: none
}

// inflightMsg is an outbound QoS 1/2 PUBLISH awaiting acknowledgement.
type inflightMsg struct {
	m      *message
	qos    byte
	retain bool
	subIDs []uint32
	rel    bool   // PUBREC received and PUBREL sent (QoS 2)
	seq    uint64 // send order, for retransmission in order
}

// queuedMsg is a QoS 1/2 delivery waiting for the inflight window or for
// the client to come back.
type queuedMsg struct {
	m      *message
	qos    byte
	retain bool
	subIDs []uint32
}

// will is a client's Will Message.
type will struct {
	m     *message
	delay uint32 // Will Delay Interval, seconds
}

// session is the server side of an MQTT session: it outlives connections
// when the client asks for it. All fields are guarded by mu unless noted.
type session struct {
	b  *Broker
	id string // client identifier; immutable

	mu     sync.Mutex
	client *client     // nil while offline
	online atomic.Bool // client != nil, readable without mu
	sink   *sink       // in-process subscriber instead of a client
	info   *ClientInfo // of the latest connection; nil for in-process sessions
	subs   map[string]subOpts

	inflight map[uint16]inflightMsg
	// pending lists, in order, inflight messages not yet resent on the
	// current connection because its Receive Maximum is smaller than the
	// previous one's; they keep their packet identifiers [MQTT-4.4.0-1].
	pending []uint16
	seq     uint64
	nextPID uint16
	queue   []queuedMsg
	qhead   int

	inQoS2 map[uint16]struct{} // inbound QoS 2 packet ids awaiting PUBREL
	// resuming is set from attach until resume has retransmitted the
	// inflight messages, so that new QoS 1/2 deliveries queue behind them.
	resuming bool
	// waiters are publishers whose acknowledgements wait for this session's
	// queue to drain (flow.go).
	waiters map[*client]struct{}

	expiry      uint32 // Session Expiry Interval, seconds; 0xFFFFFFFF never
	gen         uint64 // bumped on attach and detach; stale timers compare it
	will        *will
	willTimer   *time.Timer
	expiryTimer *time.Timer
	ended       bool
}

func newSession(b *Broker, id string) *session {
	return &session{b: b, id: id, subs: make(map[string]subOpts), inflight: make(map[uint16]inflightMsg), inQoS2: make(map[uint16]struct{})}
}

// queueLen returns the number of queued messages; s.mu held.
func (s *session) queueLen() int { return len(s.queue) - s.qhead }

// enqueue appends a QoS 1/2 delivery, dropping it when the queue holds
// limit messages; s.mu held.
func (s *session) enqueue(q queuedMsg, limit int) {
	if s.queueLen() >= limit {
		s.b.stats.msgsDropped.Add(1)
		if ce := s.b.log.Check(zap.WarnLevel, "message dropped: session queue full"); ce != nil {
			ce.Write(zap.String("client", s.id), zap.String("topic", q.m.topic), zap.Int("limit", limit))
		}
		return
	}
	if s.qhead > 64 && s.qhead*2 >= len(s.queue) { // drop the dead prefix
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	s.queue = append(s.queue, q)
}

// enqueueFront puts a message back at the head of the queue (it could not
// be sent); s.mu held.
func (s *session) enqueueFront(q queuedMsg) {
	if s.qhead > 0 {
		s.qhead--
		s.queue[s.qhead] = q
		return
	}
	s.queue = append(s.queue, queuedMsg{})
	copy(s.queue[1:], s.queue)
	s.queue[0] = q
}

// dequeue removes the oldest queued message; s.mu held.
func (s *session) dequeue() (queuedMsg, bool) {
	if s.qhead == len(s.queue) {
		return queuedMsg{}, false
	}
	q := s.queue[s.qhead]
	s.queue[s.qhead] = queuedMsg{}
	s.qhead++
	if s.qhead == len(s.queue) {
		s.queue, s.qhead = s.queue[:0], 0
		if cap(s.queue) > 1024 {
			s.queue = nil
		}
	}
	return q, true
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

// refillCurrent lets the session's current connection send queued
// messages after an acknowledgement (which may have arrived on a connection
// being taken over); s.mu held.
func (s *session) refillCurrent(now int64) {
	if c := s.client; c != nil && !s.resuming {
		c.refill(s, now)
	}
}

// track records a QoS 1/2 PUBLISH just sent with pid as inflight; s.mu held.
func (s *session) track(pid uint16, m *message, qos byte, retain bool, subIDs []uint32) {
	s.seq++
	s.inflight[pid] = inflightMsg{m: m, qos: qos, retain: retain, subIDs: subIDs, seq: s.seq}
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

// stopTimers stops the will-delay and expiry timers.
func (s *session) stopTimers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopTimersLocked()
}

// stopTimersLocked is stopTimers with s.mu held.
func (s *session) stopTimersLocked() {
	if s.willTimer != nil {
		s.willTimer.Stop()
		s.willTimer = nil
	}
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
		s.expiryTimer = nil
	}
}

// removeSubscriptions takes every subscription of s out of the trie.
func (b *Broker) removeSubscriptions(s *session) {
	s.mu.Lock()
	filters := make([]string, 0, len(s.subs))
	for f := range s.subs {
		filters = append(filters, f)
	}
	clear(s.subs)
	s.mu.Unlock()
	for _, f := range filters {
		b.subs.Unsubscribe(f, s)
	}
}

// expireSession ends an offline session whose expiry interval has passed,
// publishing its will if one is still pending.
func (b *Broker) expireSession(s *session, gen uint64) {
	if b.closed() {
		return
	}
	b.mu.Lock()
	s.mu.Lock()
	if s.client != nil || s.ended || s.gen != gen {
		s.mu.Unlock()
		b.mu.Unlock()
		return
	}
	s.ended = true
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	w := s.will
	s.will = nil
	s.stopTimersLocked()
	s.mu.Unlock()
	b.mu.Unlock()
	b.log.Debug("session expired", zap.String("client", s.id))
	b.removeSubscriptions(s)
	if w != nil {
		b.publishWill(s, w)
	}
}

// fireWill publishes s's will once its delay has passed, if the client has
// not come back.
func (b *Broker) fireWill(s *session, gen uint64) {
	if b.closed() {
		return
	}
	s.mu.Lock()
	w := s.will
	if s.client != nil || w == nil || s.gen != gen {
		s.mu.Unlock()
		return
	}
	s.will = nil
	s.willTimer = nil
	s.mu.Unlock()
	b.publishWill(s, w)
}

func (b *Broker) publishWill(s *session, w *will) {
	b.log.Debug("publishing will", zap.String("client", s.id), zap.String("topic", w.m.topic))
	b.routeMessage(w.m, time.Now())
}
