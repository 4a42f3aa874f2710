package broker

import (
	"cmp"
	"slices"
	"time"
)

// A member that leaves a shared group hands the QoS 1/2 messages it got
// through the group and has not had acknowledged to the rest of the group
// [MQTT 5 §4.8.2]. A member leaves when its session ends (expiry, a clean
// start discarding it, its connection ending with Session Expiry 0, a
// takeover with clean start, here or from another node) or when it
// unsubscribes from the group's filter. Its queued messages of the group
// and its inflight ones not yet PUBRECed (a released QoS 2 message was
// delivered) go, in their order, with their original QoS and properties,
// to another member: one of this node when there is one, else one of
// another node (SharedRedeliverer); with no member left anywhere they are
// dropped and counted (cause "shared group empty"). A session that moves
// to another node (ExportSession) does not leave: its messages move with
// it.

// leftMsg is a message a leaving member had not had acknowledged, for the
// rest of group g.
type leftMsg struct {
	m *message
	g *shareGroup
}

// sharedLeft returns, in order, the messages of a session that ends which
// came through a shared group and are not acknowledged: inflight (not
// released) first, then queued. They stay held until discardMessages; s.mu
// held.
func (s *session) sharedLeft() []leftMsg {
	var out []leftMsg
	for _, pid := range s.inflightOrder() {
		if e := s.inflight[pid]; e.group != nil && e.m != nil {
			out = append(out, leftMsg{e.m, e.group})
		}
	}
	for _, q := range s.queue[s.qhead:] {
		if q.group != nil {
			out = append(out, leftMsg{q.m, q.group})
		}
	}
	return out
}

// leaveGroup takes out of s the messages that came through the shared
// group name/filter and are not acknowledged (inflight not released, and
// queued), in order, releasing them; the queue then refills the window.
// s.mu held.
func (s *session) leaveGroup(name, filter string, now int64) []leftMsg {
	var out []leftMsg
	for _, pid := range s.inflightOrder() {
		if e := s.inflight[pid]; e.m != nil && e.group != nil && e.group.Name == name && e.group.Filter == filter {
			out = append(out, leftMsg{e.m, e.group})
			s.untrack(pid)
			s.unpend(pid)
		}
	}
	kept := s.queue[s.qhead:s.qhead]
	for _, q := range s.queue[s.qhead:] {
		if q.group != nil && q.group.Name == name && q.group.Filter == filter {
			out = append(out, leftMsg{q.m, q.group})
			s.unhold(q.m)
			continue
		}
		kept = append(kept, q)
	}
	clear(s.queue[s.qhead+len(kept):])
	s.queue = s.queue[:s.qhead+len(kept)]
	if len(out) > 0 {
		s.refillCurrent(now)
	}
	return out
}

// inflightOrder returns the inflight packet ids in the order they were
// sent; s.mu held.
func (s *session) inflightOrder() []uint16 {
	if len(s.inflight) == 0 {
		return nil
	}
	pids := make([]uint16, 0, len(s.inflight))
	for pid := range s.inflight {
		pids = append(pids, pid)
	}
	slices.SortFunc(pids, func(a, b uint16) int { return cmp.Compare(s.inflight[a].seq, s.inflight[b].seq) })
	return pids
}

// redeliverShared hands the messages member from left behind to the rest
// of their groups, in order: a member here other than from, else through
// the peers; a message no member can get is dropped and counted. Called
// with no lock held, after from left the groups.
func (b *Broker) redeliverShared(from *session, left []leftMsg) {
	if len(left) == 0 {
		return
	}
	now := time.Now()
	sc := b.getScratch()
	defer b.putScratch(sc)
	r := &sc.route
	var key [1]string
	for _, l := range left {
		switch {
		case b.closed():
			b.countDrop(from.id, dropEnded)
			continue
		case l.m.expired(now.UnixNano()):
			b.countDrop(from.id, dropExpired)
			continue
		}
		key[0] = groupKey(l.g)
		r.reset(b, nil, l.m, nil, now)
		r.groups, r.remote, r.track, r.groupsOnly, r.exclude = key[:], true, true, true, from
		r.served = append(r.served[:0], false)
		r.run()
		served := r.served[0]
		r.groups, r.track, r.groupsOnly, r.exclude = nil, false, false, nil
		if !served && !b.redeliverToPeers(l.m, key[0], now) {
			b.countDrop(from.id, dropGroupEmpty)
		}
	}
}

// redeliverToPeers hands m to a member of the shared group on another
// node; false when there is none (or no cluster).
func (b *Broker) redeliverToPeers(m *message, group string, now time.Time) bool {
	sr, ok := b.peersOf().(SharedRedeliverer)
	if !ok {
		return false
	}
	pub := m.wire(now.UnixNano())
	return sr.RedeliverShared(&pub, group)
}
