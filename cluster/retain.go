package cluster

import (
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// The retained store of a tenant is the same on every node. Each set or
// clear published on a node gets a stamp from the node's hybrid logical
// clock and goes to every live peer; of two changes of one topic the one
// with the higher stamp wins, and of equal stamps the one whose origin
// node name sorts last (last writer wins). A clear is kept as a tombstone
// for Config.RetainTombstoneTTL, so that an older set arriving later (from
// a node that was partitioned) does not bring the message back. When a
// link connects, the dialer streams its whole store to the peer, which
// applies it by the same rule, and gossip's push/pull carries a hash of
// each tenant's store: a difference that outlives one exchange makes the
// node stream its store to that peer again.

// hlc is a hybrid logical clock: the wall clock in milliseconds in the
// high bits and a counter in the low 16, never going back and always past
// every stamp seen from a peer.
type hlc struct {
	mu   sync.Mutex
	last uint64
}

// now returns a stamp later than every stamp now returned or observed.
func (h *hlc) now() uint64 {
	pt := uint64(time.Now().UnixMilli()) << 16
	h.mu.Lock()
	defer h.mu.Unlock()
	if pt > h.last {
		h.last = pt
	} else {
		h.last++
	}
	return h.last
}

// observe moves the clock past a peer's stamp.
func (h *hlc) observe(stamp uint64) {
	h.mu.Lock()
	if stamp > h.last {
		h.last = stamp
	}
	h.mu.Unlock()
}

// later reports whether change (s1, o1) wins over (s2, o2).
func later(s1 uint64, o1 string, s2 uint64, o2 string) bool {
	return s1 > s2 || s1 == s2 && o1 > o2
}

// retainMeta is what decided a topic's retained message: the winning
// change's stamp and origin, and whether it was a clear (a tombstone).
type retainMeta struct {
	stamp   uint64
	origin  string
	cleared bool
}

// tombstone is a clear waiting to be forgotten.
type tombstone struct {
	topic string
	stamp uint64
	at    time.Time
}

// retainStore is the replication state of one tenant's retained store;
// the messages themselves are in the broker's store. mu orders every
// change of the broker's store made through it (local ones in Retain,
// remote ones in applyRetained).
type retainStore struct {
	mu    sync.Mutex
	meta  map[string]retainMeta
	hash  uint64      // XOR of setHash over the topics set
	tombs []tombstone // by time of the clear
	// drift is, per peer, the pair of hashes (this node's, the peer's)
	// that differed at the last gossip exchange.
	drift map[string][2]uint64
}

func newRetainStore() *retainStore {
	return &retainStore{meta: make(map[string]retainMeta), drift: make(map[string][2]uint64)}
}

// setHash hashes one set for the store's digest.
func setHash(topic string, stamp uint64, origin string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(topic))
	_, _ = h.Write([]byte{0, byte(stamp >> 56), byte(stamp >> 48), byte(stamp >> 40), byte(stamp >> 32),
		byte(stamp >> 24), byte(stamp >> 16), byte(stamp >> 8), byte(stamp), 0})
	_, _ = h.Write([]byte(origin))
	return h.Sum64()
}

// recordLocked makes e the topic's winning change; rs.mu held.
func (rs *retainStore) recordLocked(e *retainEntry, now time.Time) {
	if old, ok := rs.meta[e.topic]; ok && !old.cleared {
		rs.hash ^= setHash(e.topic, old.stamp, old.origin)
	}
	rs.meta[e.topic] = retainMeta{stamp: e.stamp, origin: e.origin, cleared: !e.set}
	if e.set {
		rs.hash ^= setHash(e.topic, e.stamp, e.origin)
	} else {
		rs.tombs = append(rs.tombs, tombstone{e.topic, e.stamp, now})
	}
}

// digest returns the hash of the store's sets.
func (rs *retainStore) digest() uint64 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.hash
}

// expire forgets the tombstones older than ttl.
func (rs *retainStore) expire(now time.Time, ttl time.Duration) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	n := 0
	for n < len(rs.tombs) && now.Sub(rs.tombs[n].at) >= ttl {
		tb := rs.tombs[n]
		if m, ok := rs.meta[tb.topic]; ok && m.cleared && m.stamp == tb.stamp {
			delete(rs.meta, tb.topic)
		}
		n++
	}
	if n > 0 {
		rs.tombs = rs.tombs[:copy(rs.tombs, rs.tombs[n:])]
	}
}

// topics returns the topics the store has a change of, sorted.
func (rs *retainStore) topics() []string {
	rs.mu.Lock()
	out := make([]string, 0, len(rs.meta))
	for t := range rs.meta {
		out = append(out, t)
	}
	rs.mu.Unlock()
	sort.Strings(out)
	return out
}

// Retain implements broker.RetainReplicator: the change is stamped,
// stored and queued to every live peer in one step, so that the peers'
// changes of the same topic are ordered with it.
func (t *tenantPeers) Retain(m *packet.Publish, store func() bool) bool {
	rs := t.retained
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !store() {
		return false
	}
	// The topic is copied: m's may view the message's buffer, which the
	// store's key would keep alive after the message is replaced.
	e := retainEntry{topic: strings.Clone(m.Topic), stamp: t.c.clock.now(), origin: t.c.cfg.Name, set: len(m.Payload) > 0}
	rs.recordLocked(&e, time.Now())
	links := *t.c.linkList.Load()
	if len(links) == 0 {
		return true
	}
	if e.set {
		e.publish = appendWirePublish(nil, m)
	}
	fr := frame(frameRetain, func(b []byte) []byte { return appendRetainEntry(appendString(b, t.name), &e) })
	for _, l := range links {
		l.queueRetain(fr)
	}
	return true
}

// appendWirePublish appends m as an MQTT 5 PUBLISH packet.
func appendWirePublish(dst []byte, m *packet.Publish) []byte {
	pid := m.PacketID
	if m.QoS > 0 {
		m.PacketID = 1 // any: the receiver ignores it, but QoS > 0 needs one
	}
	dst = m.AppendTo(dst, packet.V5)
	m.PacketID = pid
	return dst
}

// applyRetained applies a peer's change when it wins over the topic's
// current one. pub is e's message, decoded (for a set).
func (t *tenantPeers) applyRetained(e *retainEntry, pub *packet.Publish) {
	t.c.clock.observe(e.stamp)
	rs := t.retained
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if cur, ok := rs.meta[e.topic]; ok && !later(e.stamp, e.origin, cur.stamp, cur.origin) {
		return
	}
	if !e.set {
		pub = &packet.Publish{Topic: e.topic, Retain: true}
	}
	if !t.b.ApplyRetained(pub) {
		// Not recorded: the digests differ, and a later repair tries again.
		t.c.log.Warn("replicated retained message refused by the memory budget", zap.String("tenant", t.name),
			zap.String("topic", e.topic), zap.String("origin", e.origin))
		return
	}
	rs.recordLocked(e, time.Now())
}

// applyRetain applies a frameRetain from the peer: the whole frame is
// checked before any entry is applied.
func (in *inbound) applyRetain(body []byte, pub *packet.Publish) error {
	tenant, entries, err := decodeRetain(body)
	if err != nil {
		return err
	}
	for i := range entries {
		if entries[i].set {
			if err := decodeRetainPublish(&entries[i], pub); err != nil {
				return err
			}
		}
	}
	t := in.tenant(tenant)
	if t == nil {
		return nil
	}
	for i := range entries {
		e := &entries[i]
		if e.set {
			_ = decodeRetainPublish(e, pub) // checked above
		}
		t.applyRetained(e, pub)
	}
	return nil
}

// retainCursor streams a tenant's retained store to a peer: the topics
// still to send.
type retainCursor struct {
	t      *tenantPeers
	topics []string
}

// queueRetain queues a retained change for the peer.
func (l *link) queueRetain(fr []byte) { l.queueFrame(&l.retains, fr) }

// queueRetainRepair queues a stream of t's whole retained store to the
// peer, unless one not yet started is queued (it reads the store as it is
// when it starts).
func (l *link) queueRetainRepair(t *tenantPeers) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == "closed" {
		return
	}
	for _, q := range l.retainSnaps {
		if q == t {
			return
		}
	}
	l.retainSnaps = append(l.retainSnaps, t)
	l.cond.Signal()
}

// resetRetains replaces what is queued, for a new connection, by a stream
// of every tenant's store (which holds every change queued, and those the
// last connection may have lost). It runs on the link's goroutine, before
// the connection's writer.
func (l *link) resetRetains(tenants []*tenantPeers) {
	l.mu.Lock()
	l.retains = nil
	l.retainSnaps = append(l.retainSnaps[:0], tenants...)
	l.retainCur = nil
	l.mu.Unlock()
}

// retainPending reports whether retained frames wait to be written; l.mu
// held, on the writer's goroutine.
func (l *link) retainPending() bool {
	return len(l.retains) > 0 || len(l.retainSnaps) > 0 || l.retainCur != nil
}

// writeRetains writes the queued retained changes and one chunk of the
// current repair stream; it runs on the writer's goroutine, l.mu not held.
func (l *link) writeRetains(w interface{ Write([]byte) (int, error) }) error {
	l.mu.Lock()
	changes := l.retains
	l.retains = nil
	if l.retainCur == nil && len(l.retainSnaps) > 0 {
		l.retainCur = &retainCursor{t: l.retainSnaps[0]}
		l.retainSnaps = l.retainSnaps[:copy(l.retainSnaps, l.retainSnaps[1:])]
	}
	rc := l.retainCur
	l.mu.Unlock()
	for _, fr := range changes {
		if _, err := w.Write(fr); err != nil {
			return err
		}
	}
	if rc == nil {
		return nil
	}
	if rc.topics == nil {
		rc.topics = rc.t.retained.topics()
	}
	var fr []byte
	fr, rc.topics = rc.t.retainChunk(rc.topics)
	if len(rc.topics) == 0 {
		l.mu.Lock()
		l.retainCur = nil
		l.mu.Unlock()
	}
	if fr == nil {
		return nil
	}
	_, err := w.Write(fr)
	return err
}

// retainChunk encodes the current changes of the first topics, up to about
// retainChunk bytes, as a frameRetain (nil when none is left); it returns
// the topics still to send.
func (t *tenantPeers) retainChunk(topics []string) ([]byte, []string) {
	rs := t.retained
	body := appendString(make([]byte, 0, 1024), t.name)
	start := len(body)
	for len(topics) > 0 && len(body) < retainChunk {
		topic := topics[0]
		topics = topics[1:]
		rs.mu.Lock()
		m, ok := rs.meta[topic]
		var e retainEntry
		if ok {
			e = retainEntry{topic: topic, stamp: m.stamp, origin: m.origin, set: !m.cleared}
			if e.set {
				pub, have := t.b.RetainedMessage(topic)
				if have {
					e.publish = appendWirePublish(nil, &pub)
				}
				ok = have // expired: the peer's copy expires too
			}
		}
		rs.mu.Unlock()
		if ok {
			body = appendRetainEntry(body, &e)
		}
	}
	if len(body) == start {
		return nil, topics
	}
	out := appendHeader(make([]byte, 0, maxFrameHeader+len(body)), frameRetain, len(body))
	return append(out, body...), topics
}

// checkRetained compares the peer's retained digests with this node's and
// streams this node's store of a tenant to the peer when they differ at two
// exchanges in a row with the same hashes (a drift, not a change on its
// way).
func (c *Cluster) checkRetained(peer string, theirs map[string]uint64) {
	l := c.link(peer)
	if l == nil {
		return
	}
	for name, h := range theirs {
		t := c.tenant(name)
		if t == nil {
			continue
		}
		rs := t.retained
		rs.mu.Lock()
		pair := [2]uint64{rs.hash, h}
		repair := false
		if rs.hash == h {
			delete(rs.drift, peer)
		} else if rs.drift[peer] == pair {
			delete(rs.drift, peer)
			repair = true
		} else {
			rs.drift[peer] = pair
		}
		rs.mu.Unlock()
		if repair {
			c.retainRepairs.Add(1)
			c.log.Info("retained digest differs: sending the tenant's retained store to the peer",
				zap.String("peer", peer), zap.String("tenant", name))
			l.queueRetainRepair(t)
		}
	}
}
