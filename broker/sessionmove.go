package broker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// Sessions across nodes. A Peers that also implements SessionClaimer keeps
// one session per client id across the cluster: before it answers CONNACK
// the broker asks it to claim the client id, and it moves the session here
// from the node holding it in two steps: TakeSession there (the old
// connection gets DISCONNECT 0x8E; the session stays, offline, with its
// subscriptions), PrepareSession here (the same subscriptions, so that
// messages route here from then on), then ExportSession there and
// ImportSession here (what was queued and in flight there goes in front of
// what queued here meanwhile). A message routed to both nodes in between
// arrives twice, as QoS 1 allows; none is lost.

// SessionClaimer is implemented by Peers that keep one session per client
// id across a cluster.
type SessionClaimer interface {
	// ClaimSession makes this node the only holder of clientID's session
	// before its CONNACK: with cleanStart, any other node's session is
	// discarded; else it is moved here (PrepareSession, ImportSession).
	// It returns once every live peer has answered or ctx ends; an error
	// says which part failed, and the broker goes on with what it has.
	// The broker calls done once the client is attached (or refused):
	// until then, a later claim of the client id from a peer waits.
	ClaimSession(ctx context.Context, clientID string, cleanStart bool) (done func(), err error)
}

// TakeMode says what TakeSession does with the session it gives up.
type TakeMode int

const (
	// TakeDiscard: the client connected elsewhere with Clean Start; the
	// session ends here (its will published as on a local takeover).
	TakeDiscard TakeMode = iota
	// TakeResume: the client connected elsewhere to resume the session;
	// its will follows the MQTT 5 takeover rules (a delayed will is
	// dropped, an immediate one published).
	TakeResume
	// TakeAdopt: another node adopts the session while the client is away
	// (a drain); the will moves with the session.
	TakeAdopt
)

// TakeSession is the first step of giving up clientID's session to another
// node: its connection, if any, gets DISCONNECT 0x8E (3.1.1: is closed),
// and the session stays here offline, returned with its subscriptions and
// expiry only, until ExportSession. It returns false when there is no
// session to move (none, an in-process one, one that ends with its
// connection, or mode TakeDiscard, which ends it).
func (b *Broker) TakeSession(clientID string, mode TakeMode) (*SessionState, bool) {
	s := b.lockMovable(clientID, false)
	if s == nil {
		return nil, false
	}
	prev := s.client
	discard := mode == TakeDiscard || s.expiry == 0
	var publish, release *will
	if w := s.will; w != nil {
		switch {
		case discard && prev != nil:
			prev.orphanWill = w // published when the connection ends, unless cleanly
			s.will = nil
		case discard:
			publish, s.will = w, nil
		case mode == TakeAdopt:
			// moves with the session
		case prev != nil && w.delay == 0:
			prev.orphanWill = w
			s.will = nil
		default:
			release, s.will = w, nil // the client is back: a delayed will is not sent
		}
	}
	now := time.Now()
	s.client = nil
	s.online.Store(false)
	s.gen++
	gen := s.gen
	s.pending = s.pending[:0]
	s.releaseWaiters()
	s.slow = false
	s.stopTimersLocked()
	if prev != nil {
		s.offlineSince = now
	}
	var st *SessionState
	var left []leftMsg
	if discard {
		s.ended = true
		left = s.sharedLeft()
		s.discardMessages()
		delete(b.sessions, clientID)
	} else {
		st = &SessionState{ClientID: clientID, Expiry: s.remainingExpiry(now), Subscriptions: s.subList()}
		if s.expiry != 0xFFFFFFFF { // ends here if the move never completes
			s.expiryTimer = time.AfterFunc(time.Duration(st.Expiry)*time.Second, func() { b.expireSession(s, gen) })
		}
	}
	s.noteWillLocked()
	s.changed()
	s.mu.Unlock()
	b.mu.Unlock()
	if prev != nil {
		prev.kick(packet.SessionTakenOver, ErrSessionTakenOver)
	}
	if discard {
		b.removeSubscriptions(s)
		b.redeliverShared(s, left)
	}
	b.publishWill(s, publish)
	b.releaseWill(release)
	return st, st != nil
}

// ExportSession is the second step: it ends clientID's offline session here
// and returns all of it. It returns false when there is none (or the
// client connected here again meanwhile, which then keeps it).
func (b *Broker) ExportSession(clientID string) (*SessionState, bool) {
	now := time.Now()
	s := b.lockMovable(clientID, true)
	if s == nil {
		return nil, false
	}
	st := s.export(now)
	s.ended = true
	s.stopTimersLocked()
	s.discardMessages()
	w := s.will
	s.will = nil
	s.noteWillLocked()
	s.changed()
	delete(b.sessions, clientID)
	s.mu.Unlock()
	b.mu.Unlock()
	b.releaseWill(w)
	b.removeSubscriptions(s)
	return st, true
}

// lockMovable returns clientID's session with b.mu and its mu held, or nil,
// holding nothing, when there is none that can move: none, an in-process
// one, one ending, or (offline) one whose client is connected.
func (b *Broker) lockMovable(clientID string, offline bool) *session {
	b.mu.Lock()
	if s := b.sessions[clientID]; s != nil {
		s.mu.Lock()
		if s.sink == nil && !s.ended && (!offline || s.client == nil) {
			return s
		}
		s.mu.Unlock()
	}
	b.mu.Unlock()
	return nil
}

// PrepareSession makes clientID's session here hold the subscriptions of
// st (creating it offline if needed) and waits until the peers route their
// messages here, or ctx ends.
func (b *Broker) PrepareSession(ctx context.Context, st *SessionState) error {
	s, waits := b.installSubs(st)
	if s == nil {
		return ErrClosed
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return fmt.Errorf("broker: session %q: routes not known to every peer: %w", st.ClientID, ctx.Err())
		}
	}
	return nil
}

// installSubs returns clientID's session (made offline if missing) with
// the subscriptions of st added, and the route waits of the new ones.
func (b *Broker) installSubs(st *SessionState) (*session, []<-chan struct{}) {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return nil, nil
	}
	s := b.sessions[st.ClientID]
	if s == nil || s.sink != nil {
		s = newSession(b, st.ClientID)
		s.expiry = st.Expiry
		s.offlineSince = time.Now()
		b.sessions[st.ClientID] = s
	}
	type add struct {
		filter string
		o      subOpts
	}
	var adds []add
	s.mu.Lock()
	for _, sub := range st.Subscriptions {
		if _, ok := s.subs[sub.Filter]; ok {
			continue
		}
		if quota := b.admitSubscription(s, sub.Filter); quota != "" {
			b.log.Warn("moved subscription dropped: quota exceeded", zap.String("client", s.id),
				zap.String("filter", sub.Filter), zap.String("quota", quota))
			continue
		}
		o := subOpts{qos: sub.QoS, noLocal: sub.NoLocal, rap: sub.RetainAsPublished, id: sub.ID, checkRead: sub.CheckRead}
		s.subs[sub.Filter] = o
		adds = append(adds, add{sub.Filter, o})
	}
	if len(adds) > 0 && !b.restoring.Load() { // Restore marks what changed itself
		s.changed()
	}
	s.mu.Unlock()
	b.mu.Unlock()
	var waits []<-chan struct{}
	for _, a := range adds {
		if w := b.subscribeTrie(a.filter, s, a.o); w != nil {
			waits = append(waits, w)
		}
	}
	return s, waits
}

// ImportSession puts what ExportSession returned on another node into
// clientID's session here: its inflight and queued messages go before
// those queued here since PrepareSession, keeping their packet ids (one
// already in use here is queued instead). An offline session gets its
// expiry and will timers.
func (b *Broker) ImportSession(st *SessionState) error {
	return b.importSession(st, false, true)
}

// importSession is ImportSession; stored says the Store holds st already
// (Restore), changed that the Store's record is out of date.
func (b *Broker) importSession(st *SessionState, stored, changed bool) error {
	s, _ := b.installSubs(st)
	if s == nil {
		return ErrClosed
	}
	now := time.Now()
	var publish *will
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return fmt.Errorf("broker: session %q ended while it was imported", st.ClientID)
	}
	s.importMessages(st, now)
	if st.NextPID > s.nextPID {
		s.nextPID = st.NextPID
	}
	for _, pid := range st.InQoS2 {
		s.inQoS2[pid] = struct{}{}
	}
	if s.client == nil {
		s.expiry = st.Expiry
		s.stopTimersLocked()
		s.gen++
		gen := s.gen
		if st.Will != nil && s.will == nil {
			if w := b.newWill(&st.Will.Message, st.Will.Delay, now); w != nil {
				s.will = w
				if w.delay == 0 {
					publish, s.will = w, nil
				} else if w.delay < s.expiry {
					s.willTimer = time.AfterFunc(time.Duration(w.delay)*time.Second, func() { b.fireWill(s, gen) })
				}
			}
		}
		if s.expiry != 0xFFFFFFFF {
			s.expiryTimer = time.AfterFunc(time.Duration(s.expiry)*time.Second, func() { b.expireSession(s, gen) })
		}
		s.noteWillLocked()
	} else {
		s.refillCurrent(now.UnixNano())
	}
	s.stored = s.stored || stored
	if changed {
		s.changed()
	}
	s.mu.Unlock()
	b.publishWill(s, publish)
	return nil
}

// SessionIDs returns the client ids of every session held here (connected
// or not; in-process ones excepted).
func (b *Broker) SessionIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.sessions))
	for id, s := range b.sessions {
		if s.sink == nil {
			out = append(out, id)
		}
	}
	return out
}

// claim asks the cluster, when there is one, to make this node the only
// holder of the client's session before attach; the caller calls the
// returned func once attach is done.
func (c *client) claim(cp *packet.Connect) func() {
	cl, ok := c.b.peersOf().(SessionClaimer)
	if !ok || c.idAssigned {
		return noop
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.b.config().ConnectTimeout)
	defer cancel()
	done, err := cl.ClaimSession(ctx, cp.ClientID, cp.CleanStart)
	if err != nil {
		c.logger().Warn("session claim incomplete: going on with what arrived", zap.Error(err))
	}
	if done == nil {
		return noop
	}
	return done
}

func noop() {}

// remainingExpiry returns what is left of s's expiry; s.mu held.
func (s *session) remainingExpiry(now time.Time) uint32 {
	if s.client != nil {
		return s.expiry
	}
	return max(remaining(s.expiry, s.offlineSince, now), 1)
}

// subList returns s's subscriptions; s.mu held.
func (s *session) subList() []SessionSub {
	out := make([]SessionSub, 0, len(s.subs))
	for f, o := range s.subs {
		out = append(out, SessionSub{Filter: f, QoS: o.qos, NoLocal: o.noLocal, RetainAsPublished: o.rap, ID: o.id, CheckRead: o.checkRead})
	}
	return out
}

// export returns all of s; s.mu held.
func (s *session) export(now time.Time) *SessionState {
	st := &SessionState{ClientID: s.id, Expiry: s.remainingExpiry(now), Subscriptions: s.subList(), NextPID: s.nextPID}
	pids := make([]uint16, 0, len(s.inflight))
	for pid := range s.inflight {
		pids = append(pids, pid)
	}
	slices.SortFunc(pids, func(a, b uint16) int { return cmp.Compare(s.inflight[a].seq, s.inflight[b].seq) })
	for _, pid := range pids {
		e := s.inflight[pid]
		is := InflightState{PacketID: pid, QoS: e.qos, Retain: e.retain, SubIDs: e.subIDs, Released: e.rel, Group: groupKey(e.group)}
		if e.m != nil {
			m := e.m.wire(now.UnixNano())
			is.Message = &m
		}
		st.Inflight = append(st.Inflight, is)
	}
	for _, q := range s.queue[s.qhead:] {
		m := q.m.wire(now.UnixNano())
		st.Queue = append(st.Queue, QueuedState{QoS: q.qos, Retain: q.retain, SubIDs: q.subIDs, Message: &m, Group: groupKey(q.group)})
	}
	for pid := range s.inQoS2 {
		st.InQoS2 = append(st.InQoS2, pid)
	}
	slices.Sort(st.InQoS2)
	if s.will != nil {
		st.Will = s.willState(now)
	}
	return st
}

// importMessages puts st's inflight and queued messages before s's own;
// s.mu held.
func (s *session) importMessages(st *SessionState, now time.Time) {
	own := make([]uint16, 0, len(s.inflight))
	for pid := range s.inflight {
		own = append(own, pid)
	}
	slices.SortFunc(own, func(a, b uint16) int { return cmp.Compare(s.inflight[a].seq, s.inflight[b].seq) })
	var front []queuedMsg // imported inflight whose packet id is taken here
	seq := uint64(0)
	for _, e := range st.Inflight {
		if _, taken := s.inflight[e.PacketID]; taken {
			if e.Message != nil {
				if m := s.holdImported(e.Message, now); m != nil {
					front = append(front, queuedMsg{m: m, qos: e.QoS, retain: e.Retain, subIDs: e.SubIDs, group: parseGroup(e.Group)})
				}
			}
			continue
		}
		var m *message
		if e.Message != nil {
			if m = s.holdImported(e.Message, now); m == nil {
				continue
			}
		}
		seq++
		s.inflight[e.PacketID] = inflightMsg{m: m, qos: e.QoS, retain: e.Retain, subIDs: e.SubIDs, rel: e.Released, seq: seq, group: parseGroup(e.Group)}
		if s.client != nil {
			s.pending = append(s.pending, e.PacketID)
		}
	}
	for _, pid := range own { // after the imported ones, in their order
		e := s.inflight[pid]
		seq++
		e.seq = seq
		s.inflight[pid] = e
	}
	s.seq = max(s.seq, seq)
	for _, q := range st.Queue {
		if m := s.holdImported(q.Message, now); m != nil {
			front = append(front, queuedMsg{m: m, qos: q.QoS, retain: q.Retain, subIDs: q.SubIDs, group: parseGroup(q.Group)})
		}
	}
	if len(front) == 0 {
		return
	}
	rest := s.queue[s.qhead:]
	q := make([]queuedMsg, 0, len(front)+len(rest))
	s.queue, s.qhead = append(append(q, front...), rest...), 0
}

// holdImported makes a message of an imported session that s holds, nil
// (counted as dropped) when the limits refuse it; s.mu held.
func (s *session) holdImported(p *WirePublish, now time.Time) *message {
	m := newMessage(p, nil, now)
	if cause := s.hold(m); cause != dropNone {
		s.drop(cause)
		return nil
	}
	return m
}

// groupKey returns a shared group's "$share/{group}/{filter}", "" for nil.
func groupKey(g *shareGroup) string {
	if g == nil {
		return ""
	}
	return "$share/" + g.Name + "/" + g.Filter
}

// parseGroup returns the group named by "$share/{group}/{filter}" (as
// groupKey), nil for "" or another form.
func parseGroup(key string) *shareGroup {
	name, filter, ok := packet.ParseShared(key)
	if !ok {
		return nil
	}
	return &shareGroup{Name: name, Filter: filter}
}
