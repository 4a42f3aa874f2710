package cluster

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// tenantPeers is one tenant's side of the cluster: the broker.Peers of its
// broker on this node.
type tenantPeers struct {
	c        *Cluster
	name     string
	b        *broker.Broker
	ackLocal atomic.Bool
	remote   *remoteRoutes
	retained *retainStore
	// sharedSentOn and sharedLost count shared group messages sent on to
	// another member and lost (shared.go).
	sharedSentOn, sharedLost atomic.Int64

	mu       sync.Mutex // guards the fields below; taken before any link's
	local    *localRoutes
	waiters  []routeWaiter // by version
	detached bool

	peers sync.Map // peer name → *peerCounters
}

// routeWaiter is a SUBACK waiting until every live peer has a route.
type routeWaiter struct {
	version  uint64
	ch       chan struct{}
	deadline time.Time
}

// RouteChanged implements broker.Peers.
func (t *tenantPeers) RouteChanged(filter string, added bool) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.detached || !t.local.apply(filter, added, t.c.nextVersion) {
		return nil
	}
	v := t.local.version
	links := *t.c.linkList.Load()
	if len(links) == 0 {
		return nil
	}
	fr := routeFrame(t.name, v, added, filter, 1)
	for _, l := range links {
		l.queueRoute(t.name, v, fr)
	}
	if !added {
		return nil
	}
	ch := make(chan struct{})
	t.waiters = append(t.waiters, routeWaiter{v, ch, time.Now().Add(t.c.cfg.SubackWait)})
	return ch
}

// checkWaiters releases the SUBACKs whose routes every live peer has.
func (t *tenantPeers) checkWaiters() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.waiters) == 0 {
		return
	}
	acked := uint64(math.MaxUint64)
	for _, l := range *t.c.linkList.Load() {
		acked = min(acked, l.routeAcked(t.name))
	}
	n := 0
	for n < len(t.waiters) && t.waiters[n].version <= acked {
		close(t.waiters[n].ch)
		n++
	}
	t.waiters = t.waiters[:copy(t.waiters, t.waiters[n:])]
}

// expireWaiters releases the SUBACKs that waited SubackWait.
func (t *tenantPeers) expireWaiters(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for n < len(t.waiters) && !now.Before(t.waiters[n].deadline) {
		close(t.waiters[n].ch)
		n++
	}
	if n > 0 {
		t.c.subackTimeouts.Add(int64(n))
		t.waiters = t.waiters[:copy(t.waiters, t.waiters[n:])]
	}
}

// snapshot returns the tenant's routes and their version.
func (t *tenantPeers) snapshot() ([]routeEntry, uint64) {
	return t.local.list(), t.local.version
}

// digest returns the digest of the tenant's routes.
func (t *tenantPeers) digest() digest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return digest{Version: t.local.version, Hash: t.local.hash}
}

// counters returns the tenant's counters for a peer.
func (t *tenantPeers) counters(peer string) *peerCounters {
	if v, ok := t.peers.Load(peer); ok {
		return v.(*peerCounters)
	}
	v, _ := t.peers.LoadOrStore(peer, new(peerCounters))
	return v.(*peerCounters)
}

// Forward implements broker.Peers: the message goes once to each peer with
// a matching route; a shared group with a member on this node is served
// here, one without goes to one of the peers that have members.
func (t *tenantPeers) Forward(m *packet.Publish, w broker.ForwardWaiter) (forwarded, wait bool) {
	return t.forward(m, w, nil, true)
}

// ForwardShared implements broker.SharedForwarder: as Forward, the shared
// groups served here being those the local delivery reached a member of.
func (t *tenantPeers) ForwardShared(m *packet.Publish, w broker.ForwardWaiter, served []broker.SharedGroup) (forwarded, wait bool) {
	return t.forward(m, w, served, false)
}

// forward is Forward; the shared groups served here are served, or with
// byRoutes those this node has a route for.
func (t *tenantPeers) forward(m *packet.Publish, w broker.ForwardWaiter, served []broker.SharedGroup, byRoutes bool) (forwarded, wait bool) {
	if t.remote.trie.Len() == 0 {
		return false, false
	}
	res := t.remote.trie.Match(m.Topic)
	if len(res.Subs) == 0 && len(res.Groups) == 0 {
		return false, false
	}
	var buf [4]target
	targets := buf[:0]
	for _, e := range res.Subs {
		targets = addTarget(targets, e.Key, "")
	}
	if len(res.Groups) > 0 {
		if byRoutes {
			t.mu.Lock()
		}
		for _, g := range res.Groups {
			key := "$share/" + g.Name + "/" + g.Filter
			if byRoutes {
				if _, here := t.local.entries[key]; here {
					continue
				}
			} else if servedHere(served, g.Name, g.Filter) {
				continue
			}
			ms := g.Members()
			if len(ms) == 0 {
				continue
			}
			targets = addTarget(targets, pickWeighted(ms, g.Next()), key)
		}
		if byRoutes {
			t.mu.Unlock()
		}
	}
	if len(targets) == 0 {
		return false, false
	}
	pid := m.PacketID
	m.PacketID = 1 // any: the receiver ignores it, but QoS > 0 needs one
	body := appendString(make([]byte, 0, len(t.name)+len(m.Topic)+len(m.Payload)+32), t.name)
	body = m.AppendTo(body, packet.V5)
	m.PacketID = pid
	if w == nil || m.QoS == 0 || t.ackLocal.Load() {
		for _, tg := range targets {
			if l := t.c.link(tg.peer); l != nil {
				l.forward(t, tg.peer, body, tg.groups, nil)
			}
		}
		return true, false
	}
	if len(targets) == 1 { // the common case: the publisher waits for one peer
		l := t.c.link(targets[0].peer)
		return true, l != nil && l.forward(t, targets[0].peer, body, targets[0].groups, w)
	}
	g := &fwdGroup{w: w}
	g.n.Store(int32(len(targets)) + 1) // +1 until every peer has it
	for _, tg := range targets {
		l := t.c.link(tg.peer)
		if l == nil || !l.forward(t, tg.peer, body, tg.groups, g) {
			g.Forwarded()
		}
	}
	return true, g.n.Add(-1) != 0
}

// target is one peer a message goes to, with the shared groups it serves.
type target struct {
	peer   string
	groups []string
}

func addTarget(ts []target, peer, group string) []target {
	for i := range ts {
		if ts[i].peer == peer {
			if group != "" {
				ts[i].groups = append(ts[i].groups, group)
			}
			return ts
		}
	}
	t := target{peer: peer}
	if group != "" {
		t.groups = []string{group}
	}
	return append(ts, t)
}

// fwdGroup is a publisher's wait for several peers: the last one's
// answer (or end) tells the publisher.
type fwdGroup struct {
	n atomic.Int32
	w broker.ForwardWaiter
}

// Forwarded implements broker.ForwardWaiter for one of the peers.
func (g *fwdGroup) Forwarded() {
	if g.n.Add(-1) == 0 {
		g.w.Forwarded()
	}
}

// peerCounters are a tenant's forwarding figures with one peer.
type peerCounters struct {
	outMsgs, outBytes atomic.Int64
	inMsgs, inBytes   atomic.Int64
	awaiting          atomic.Int64
	dropped           atomic.Int64
	ackTimeouts       atomic.Int64
	duplicates        atomic.Int64
}
