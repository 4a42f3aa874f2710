package broker

import (
	"time"

	"go.uber.org/zap"
)

// Wills across nodes: a Peers that also implements WillRegistry hears of
// every will a session holds here, so that another node can publish it if
// this one dies (package cluster); PublishWill is how that node does.

// WillRegistry is implemented by Peers that make wills survive their node:
// the broker tells it whenever a session's will is set or cleared.
type WillRegistry interface {
	// WillChanged reports clientID's will (nil: none any more). It is
	// called with the session's lock held, in the order of the changes,
	// and must not block.
	WillChanged(clientID string, w *WillState)
}

// PublishWill publishes the will of a session another node held, which
// ended there (that node died): here and on the peers with a route.
func (b *Broker) PublishWill(m *WirePublish) {
	if b.closed() {
		return
	}
	now := time.Now()
	b.log.Debug("publishing the will of a session held by a lost node", zap.String("topic", m.Topic))
	b.stats.msgsReceived.Add(1)
	b.publishMessage(newMessage(m, nil, now), now)
}

// EachWill calls f (under the session's lock) with the will of every
// session that has one, so that a new peer learns them.
func (b *Broker) EachWill(f func(clientID string, w *WillState)) {
	b.mu.Lock()
	list := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		list = append(list, s)
	}
	b.mu.Unlock()
	for _, s := range list {
		s.mu.Lock()
		if s.will != nil && !s.ended {
			f(s.id, s.willState(time.Now()))
		}
		s.mu.Unlock()
	}
}

// newWill makes a held will from a wire message, nil if the memory budget
// cannot hold it.
func (b *Broker) newWill(m *WirePublish, delay uint32, now time.Time) *will {
	w := &will{m: newMessage(m, nil, now), delay: delay}
	if !w.m.acquire(b.mem) {
		b.stats.memoryRefusals.Add(1)
		b.log.Warn("moved will dropped: the memory budget is spent", zap.String("topic", m.Topic))
		return nil
	}
	return w
}

// noteWillLocked tells the WillRegistry, if any, of s's will; s.mu held.
func (s *session) noteWillLocked() {
	r, ok := s.b.peersOf().(WillRegistry)
	if !ok {
		return
	}
	if s.will == nil || s.ended {
		if s.willNoted {
			s.willNoted = false
			r.WillChanged(s.id, nil)
		}
		return
	}
	s.willNoted = true
	r.WillChanged(s.id, s.willState(time.Now()))
}

// willState returns s's will as a value; s.mu held, s.will set.
func (s *session) willState(now time.Time) *WillState {
	w := s.will
	ws := &WillState{Message: w.m.wire(now.UnixNano()), Delay: w.delay, Expiry: s.expiry, Connected: s.client != nil}
	if !ws.Connected {
		ws.Delay = remaining(w.delay, s.offlineSince, now)
		ws.Expiry = s.remainingExpiry(now)
	}
	return ws
}

// remaining returns what is left of secs seconds counted from since.
func remaining(secs uint32, since, now time.Time) uint32 {
	if secs == 0xFFFFFFFF || since.IsZero() {
		return secs
	}
	gone := now.Sub(since) / time.Second
	if gone >= time.Duration(secs) {
		return 0
	}
	return secs - uint32(gone)
}
