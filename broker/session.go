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
	// checkRead asks the ReadAuthorizers about each message delivered
	// through this subscription.
	checkRead bool
}

// will is a client's Will Message.
type will struct {
	m     *message
	delay uint32 // Will Delay Interval, seconds
}

// session is the server side of an MQTT session: it outlives connections
// when the client asks for it. All fields are guarded by mu unless noted.
type session struct {
	b   *Broker
	id  string // client identifier; immutable
	uid uint64 // unique in the broker, never reused; immutable

	mu     sync.Mutex
	client *client     // nil while offline
	online atomic.Bool // client != nil, readable without mu
	sink   *sink       // in-process subscriber instead of a client
	// info is a copy of the latest connection's ClientInfo (a copy, so
	// that an offline session does not keep its last connection alive);
	// for in-process sessions, SubscribeAs's client or nil.
	info     *ClientInfo
	subs     map[string]subOpts
	subBytes int // filter bytes of subs (MaxSubscriptionBytes)

	inflight map[uint16]inflightMsg
	// pending lists, in order, inflight messages not yet resent on the
	// current connection because its Receive Maximum is smaller than the
	// previous one's; they keep their packet identifiers [MQTT-4.4.0-1].
	pending []uint16
	seq     uint64
	nextPID uint16
	queue   []queuedMsg
	qhead   int
	// drops counts this interval's dropped deliveries by cause (droplog.go).
	drops [numDropCauses]int64
	// heldBytes is the size of the messages queued and inflight
	// (MaxQueuedBytes; hold.go).
	heldBytes int64

	inQoS2 map[uint16]struct{} // inbound QoS 2 packet ids awaiting PUBREL
	// resuming is set from attach until resume has retransmitted the
	// inflight messages, so that new QoS 1/2 deliveries queue behind them.
	resuming bool
	// waiters are publishers whose acknowledgements wait for this session's
	// queue to drain (flow.go).
	waiters map[*client]struct{}
	// slowTimer runs while publishers wait on this session; when it fires
	// the session becomes slow: publishers go on and its excess is dropped
	// until the queue drains (flow.go).
	slowTimer *time.Timer
	slow      bool

	expiry      uint32 // Session Expiry Interval, seconds; 0xFFFFFFFF never
	gen         uint64 // bumped on attach and detach; stale timers compare it
	will        *will
	willTimer   *time.Timer
	expiryTimer *time.Timer
	ended       bool
	// offlineSince is when the session last lost its connection (what
	// is left of expiry and will delay when it moves; sessionmove.go).
	offlineSince time.Time
	// willNoted: the peers' WillRegistry was told of a will not cleared
	// since (sessionmove.go).
	willNoted bool
	// dirty: s changed since the persister last wrote it; stored: the
	// Store may hold a record of s (persist.go).
	dirty, stored bool
}

func newSession(b *Broker, id string) *session {
	return &session{b: b, id: id, uid: b.idSeq.Add(1), subs: make(map[string]subOpts),
		inflight: make(map[uint16]inflightMsg), inQoS2: make(map[uint16]struct{})}
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
		if s.sink == nil {
			b.releaseSubscription(s, f)
		}
	}
	clear(s.subs)
	s.mu.Unlock()
	for _, f := range filters {
		b.unsubscribeTrie(f, s)
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
	left := s.sharedLeft()
	s.discardMessages()
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	w := s.will
	s.will = nil
	s.noteWillLocked()
	s.stopTimersLocked()
	s.changed()
	s.mu.Unlock()
	b.mu.Unlock()
	b.log.Debug("session expired", zap.String("client", s.id))
	b.removeSubscriptions(s)
	b.redeliverShared(s, left)
	b.publishWill(s, w)
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
	s.noteWillLocked()
	s.changed()
	s.mu.Unlock()
	b.publishWill(s, w)
}

// publishWill publishes w (if not nil) and ends the session's hold on it.
func (b *Broker) publishWill(s *session, w *will) {
	if w == nil {
		return
	}
	b.log.Debug("publishing will", zap.String("client", s.id), zap.String("topic", w.m.topic))
	b.publishMessage(w.m, time.Now())
	b.releaseWill(w)
}

// releaseWill ends a session's hold on its will w (if not nil), published
// or discarded.
func (b *Broker) releaseWill(w *will) {
	if w != nil {
		w.m.releaseHolder(b.mem)
	}
}
