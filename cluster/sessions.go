package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
)

// One session per client id per tenant, cluster-wide, by claim. A CONNECT
// on this node (before its CONNACK) claims the client id from every live
// peer with a claim id (a Lamport clock and this node's name, a total
// order). A peer holding the session gives it up (broker.TakeSession:
// its connection gets 0x8E) and answers with its subscriptions; this node
// installs them, waits until its peers route their messages here, then
// takes the rest (broker.ExportSession: queued and inflight messages) and
// imports it in front of what arrived here meanwhile. A message routed to
// both nodes in between arrives twice (QoS 1 allows it); none is lost.
//
// Fence: a third node C may have forwarded a message to the holder A
// before it knew this node's routes, on C's own link to A, which has no
// order with this node's link to A: the take could overtake it, and A
// would acknowledge it after the session left and deliver it to nobody.
// So A, on a take, first sends a fence to every other live peer and
// exports only once each answered (fence acks go through the control
// queue, written after the forwards queued before them, and A's reader
// of C's link delivers C's forwards before it reads the ack). C
// acknowledged this node's routes before the take was sent, hence before
// it got the fence: every forward it sent without knowing them reaches A
// first and is exported with the session; the later ones come here too.
// The cost is one round trip to the other peers when a session moves; a
// peer that does not answer within Config.ClaimWait is not waited for
// (logged, counted in claim_timeouts), as in a claim, nor is one that
// did not answer the claim (the take names them).
//
// Races: a node receiving a claim while its own claim of the same client
// id is in progress answers at once if its own is later, and otherwise
// only once its own is done (its client connected): the later claim then
// takes the session from it, so of two racing CONNECTs the later claim
// stays connected and the other is told 0x8E. Waits only go from later
// claims to earlier ones, so they cannot deadlock.
//
// A peer that does not answer within Config.ClaimWait (partitioned, or
// dead but not yet declared so) is skipped, logged and counted
// (claim_timeouts): a session it holds is not resumed, and may stay there,
// connected, until that client id connects again where it can be reached.
//
// Flapping: every claim of a client id on this node, or from a peer,
// within flapWindow of the previous one doubles the wait before this
// node's next claim of it (from flapBase up to flapMax).

// Flapping bounds.
const (
	flapWindow = 2 * time.Second
	flapBase   = 50 * time.Millisecond
	flapMax    = 2 * time.Second
)

// clientKey names a client id of a tenant.
type clientKey struct{ tenant, client string }

// sessionPlane is a node's claims and adoptions in progress.
type sessionPlane struct {
	mu      sync.Mutex
	clock   uint64
	own     map[clientKey]*ownClaim     // claims of this node in progress
	calls   map[uint64]*claimCall       // answers awaited, by claim clock
	flaps   map[clientKey]flapState     // recent claims per client id
	adopts  map[uint64]chan bool        // HandOff requests awaiting an answer
	taking  map[clientKey]chan struct{} // last take here in progress; closed once answered
	adoptID uint64

	claims, timeouts, moved, slowed atomic.Int64
}

// ownClaim is a claim of this node in progress; done closes once its
// client is attached (or refused).
type ownClaim struct {
	id   claimID
	done chan struct{}
}

// claimCall collects the peers' answers to one step of a claim.
type claimCall struct {
	answers map[string]*sessionMsg
	wake    chan struct{}
}

// flapState counts recent claims of a client id.
type flapState struct {
	last time.Time
	n    int
}

func newSessionPlane() *sessionPlane {
	return &sessionPlane{own: map[clientKey]*ownClaim{}, calls: map[uint64]*claimCall{},
		flaps: map[clientKey]flapState{}, adopts: map[uint64]chan bool{}, taking: map[clientKey]chan struct{}{}}
}

// ClaimSession implements broker.SessionClaimer.
func (t *tenantPeers) ClaimSession(ctx context.Context, clientID string, cleanStart bool) (func(), error) {
	mode := broker.TakeResume
	if cleanStart {
		mode = broker.TakeDiscard
	}
	return t.c.claim(ctx, t, clientID, mode)
}

// claim makes this node the only holder of a client id's session; the
// returned func ends the claim once the client is attached.
func (c *Cluster) claim(ctx context.Context, t *tenantPeers, clientID string, mode claimMode) (func(), error) {
	key := clientKey{t.name, clientID}
	if d := c.sess.flapDelay(key); d > 0 {
		c.sess.slowed.Add(1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	c.wills.claimed(key)
	links := *c.linkList.Load()
	if len(links) == 0 {
		return func() {}, nil
	}
	sp := c.sess
	sp.mu.Lock()
	sp.clock++
	own := &ownClaim{id: claimID{sp.clock, c.cfg.Name}, done: make(chan struct{})}
	sp.own[key] = own
	sp.mu.Unlock()
	release := func() {
		sp.mu.Lock()
		if sp.own[key] == own {
			delete(sp.own, key)
		}
		sp.mu.Unlock()
		close(own.done)
	}
	sp.claims.Add(1)
	req := sessionMsg{typ: frameClaim, id: own.id.clock, tenant: t.name, client: clientID, mode: mode}
	answers, missed := c.ask(ctx, own.id.clock, links, req.encode(), c.cfg.ClaimWait, "session claim")
	var errs []error
	if len(missed) > 0 {
		errs = append(errs, fmt.Errorf("cluster: claim of %q: no answer from %v", clientID, missed))
	}
	var holders []*link
	for _, l := range links {
		if a := answers[l.peer]; a != nil && a.has {
			if err := t.b.PrepareSession(ctx, a.state); err != nil {
				errs = append(errs, err)
			}
			holders = append(holders, l)
		}
	}
	if len(holders) == 0 {
		return release, errors.Join(errs...)
	}
	take := sessionMsg{typ: frameTake, id: own.id.clock, tenant: t.name, client: clientID, skip: missed}
	// Twice ClaimWait: the holder's fence of its other peers may take one.
	taken, missed := c.ask(ctx, own.id.clock, holders, take.encode(), 2*c.cfg.ClaimWait, "session take")
	if len(missed) > 0 {
		errs = append(errs, fmt.Errorf("cluster: session of %q: not taken from %v", clientID, missed))
	}
	for _, l := range holders {
		st := answers[l.peer].state // subscriptions at least, if the rest did not come
		if a := taken[l.peer]; a != nil && a.has {
			st = a.state
		}
		if err := t.b.ImportSession(st); err != nil {
			errs = append(errs, err)
		}
	}
	c.sess.moved.Add(1)
	c.log.Debug("session moved here", zap.String("tenant", t.name), zap.String("client", clientID), zap.Int("holders", len(holders)))
	return release, errors.Join(errs...)
}

// ask sends fr to every link and waits for each peer's answer of claim id
// (at most wait, or until ctx ends, or the peer is gone). It returns the
// answers by peer and the peers that did not answer; what names the step
// in the log.
func (c *Cluster) ask(ctx context.Context, id uint64, links []*link, fr []byte, wait time.Duration, what string) (map[string]*sessionMsg, []string) {
	sp := c.sess
	call := &claimCall{answers: map[string]*sessionMsg{}, wake: make(chan struct{}, 1)}
	sp.mu.Lock()
	sp.calls[id] = call
	sp.mu.Unlock()
	for _, l := range links {
		l.queueControl(fr)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	tick := time.NewTicker(50 * time.Millisecond) // notices peers that are gone
	defer tick.Stop()
	for {
		sp.mu.Lock()
		var missed []string
		for _, l := range links {
			if call.answers[l.peer] == nil && l.linkState() != "closed" {
				missed = append(missed, l.peer)
			}
		}
		answers := call.answers
		if len(missed) == 0 {
			delete(sp.calls, id)
			sp.mu.Unlock()
			return answers, nil
		}
		sp.mu.Unlock()
		select {
		case <-call.wake:
			continue
		case <-tick.C:
			continue
		case <-timer.C:
		case <-ctx.Done():
		}
		sp.mu.Lock()
		delete(sp.calls, id)
		answers = call.answers
		sp.mu.Unlock()
		sp.timeouts.Add(1)
		c.log.Warn(what+": peers did not answer in time (partitioned?); going on without them",
			zap.Strings("peers", missed), zap.Duration("wait", wait))
		return answers, missed
	}
}

// flapDelay records a claim of key by this node and returns how long it
// waits first.
func (sp *sessionPlane) flapDelay(key clientKey) time.Duration {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	n := sp.noteFlapLocked(key)
	if n == 0 {
		return 0
	}
	return min(flapBase<<min(n-1, 16), flapMax)
}

// noteFlapLocked records a claim of key and returns how many came before
// it in a row, each within flapWindow of the last; sp.mu held.
func (sp *sessionPlane) noteFlapLocked(key clientKey) int {
	now := time.Now()
	f := sp.flaps[key]
	if now.Sub(f.last) < flapWindow {
		f.n++
	} else {
		f.n = 0
	}
	f.last = now
	sp.flaps[key] = f
	if len(sp.flaps) > 1<<16 { // forget the quiet ones
		for k, v := range sp.flaps {
			if now.Sub(v.last) >= flapWindow {
				delete(sp.flaps, k)
			}
		}
	}
	return f.n
}

// sessionFrame handles a session frame from peer.
func (c *Cluster) sessionFrame(peer string, typ byte, body []byte) error {
	m, err := decodeSessionMsg(typ, body)
	if err != nil {
		return err
	}
	switch typ {
	case frameClaim:
		c.onClaim(peer, m)
	case frameTake:
		c.onTake(peer, m)
	case frameClaimAnswer, frameTakeAnswer, frameFenceAck:
		c.sess.answer(peer, m)
	case frameFence:
		// Through the control queue: written after every forward queued
		// to peer before it.
		if l := c.link(peer); l != nil {
			l.queueControl((&sessionMsg{typ: frameFenceAck, id: m.id}).encode())
		}
	case frameAdopt:
		c.onAdopt(peer, m)
	case frameAdopted:
		c.sess.adopted(m)
	case frameWill, frameWillClear, frameWillReset:
		c.wills.apply(peer, m)
	}
	return nil
}

// answer records a peer's answer to a claim step of this node.
func (sp *sessionPlane) answer(peer string, m *sessionMsg) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	call := sp.calls[m.id]
	if call == nil {
		return // too late: the claim went on without it
	}
	call.answers[peer] = m
	select {
	case call.wake <- struct{}{}:
	default:
	}
}

// onClaim answers a peer's claim: at once, or once this node's own earlier
// claim of the client id is done.
func (c *Cluster) onClaim(peer string, m *sessionMsg) {
	key := clientKey{m.tenant, m.client}
	id := claimID{m.id, peer}
	sp := c.sess
	sp.mu.Lock()
	sp.clock = max(sp.clock, m.id)
	sp.noteFlapLocked(key)
	own := sp.own[key]
	take := sp.taking[key]
	sp.mu.Unlock()
	c.wills.claimed(key)
	wait := own != nil && own.id.less(id)
	if !wait && take == nil {
		c.giveUp(peer, m)
		return
	}
	go func() {
		if take != nil { // a take of it here is answered first, as it came first
			select {
			case <-take:
			case <-c.done:
				return
			}
		}
		if wait { // our earlier claim goes first; the later one takes from it
			select {
			case <-own.done:
			case <-c.done:
				return
			}
		}
		c.giveUp(peer, m)
	}()
}

// giveUp does the holder's first step of a claim and answers it.
func (c *Cluster) giveUp(peer string, m *sessionMsg) {
	ans := sessionMsg{typ: frameClaimAnswer, id: m.id, tenant: m.tenant, client: m.client}
	if t := c.tenant(m.tenant); t != nil {
		ans.state, ans.has = t.b.TakeSession(m.client, m.mode)
	}
	if ans.has {
		c.log.Debug("session claimed by a peer", zap.String("peer", peer), zap.String("tenant", m.tenant), zap.String("client", m.client))
	}
	if l := c.link(peer); l != nil {
		l.queueControl(ans.encode())
	}
}

// onTake does the holder's second step: the whole session goes, once the
// other peers are fenced. It runs apart from the link's reader, which
// goes on delivering forwards meanwhile, and after any earlier take of
// the client id here; a claim of it arriving meanwhile waits for it.
func (c *Cluster) onTake(peer string, m *sessionMsg) {
	key := clientKey{m.tenant, m.client}
	sp := c.sess
	sp.mu.Lock()
	prev := sp.taking[key]
	done := make(chan struct{})
	sp.taking[key] = done
	sp.mu.Unlock()
	go func() {
		defer func() {
			sp.mu.Lock()
			if sp.taking[key] == done {
				delete(sp.taking, key)
			}
			sp.mu.Unlock()
			close(done)
		}()
		if prev != nil {
			select {
			case <-prev:
			case <-c.done:
				return
			}
		}
		c.fence(peer, m.skip)
		ans := sessionMsg{typ: frameTakeAnswer, id: m.id, tenant: m.tenant, client: m.client}
		if t := c.tenant(m.tenant); t != nil {
			ans.state, ans.has = t.b.ExportSession(m.client)
		}
		if l := c.link(peer); l != nil {
			l.queueControl(ans.encode())
		}
	}()
}

// fence returns once every live peer but claimant and those in skip has
// answered a fence (so every forward it queued here before is
// delivered), or ClaimWait passed; see "Fence" above. The peers in skip
// did not answer the claim: the claimant did not wait for them to route
// to it, so fencing them would guarantee nothing.
func (c *Cluster) fence(claimant string, skip []string) {
	var others []*link
	for _, l := range *c.linkList.Load() {
		if l.peer != claimant && !slices.Contains(skip, l.peer) {
			others = append(others, l)
		}
	}
	if len(others) == 0 {
		return
	}
	sp := c.sess
	sp.mu.Lock()
	sp.clock++ // an id of this node's, as its claims' are
	id := sp.clock
	sp.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	c.ask(ctx, id, others, (&sessionMsg{typ: frameFence, id: id}).encode(), c.cfg.ClaimWait, "session fence")
}

// onAdopt adopts a session a draining peer hands off: it claims it.
func (c *Cluster) onAdopt(peer string, m *sessionMsg) {
	go func() {
		ok := false
		if t := c.tenant(m.tenant); t != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 4*c.cfg.ClaimWait)
			release, err := c.claim(ctx, t, m.client, broker.TakeAdopt)
			release()
			cancel()
			ok = err == nil
			if err != nil {
				c.log.Warn("adopting a handed-off session: incomplete", zap.String("peer", peer), zap.String("client", m.client), zap.Error(err))
			}
		}
		if l := c.link(peer); l != nil {
			l.queueControl((&sessionMsg{typ: frameAdopted, id: m.id, has: ok}).encode())
		}
	}()
}

// adopted records a peer's answer to a HandOff request.
func (sp *sessionPlane) adopted(m *sessionMsg) {
	sp.mu.Lock()
	ch := sp.adopts[m.id]
	delete(sp.adopts, m.id)
	sp.mu.Unlock()
	if ch != nil {
		ch <- m.has
	}
}

// HandOff moves every session held on this node (connected ones after
// their connection is closed, and offline ones) of every attached tenant
// to live peers, so that a later CONNECT on any node resumes it; it
// returns when every session is acknowledged by its new holder or ctx
// ends. Each session goes to the live peer with the highest hash of its
// name and the client id (rendezvous hashing): sessions spread evenly,
// and the choice does not depend on the order of the members.
func (c *Cluster) HandOff(ctx context.Context) error {
	type req struct {
		id                   uint64
		peer, tenant, client string
		ch                   chan bool
	}
	var reqs []req
	sp := c.sess
	for _, t := range c.tenantList() {
		for _, id := range t.b.SessionIDs() {
			links := *c.linkList.Load()
			if len(links) == 0 {
				return fmt.Errorf("cluster: hand-off: no live peer to take the sessions")
			}
			l := sessionHolder(links, t.name, id)
			ch := make(chan bool, 1)
			sp.mu.Lock()
			sp.adoptID++
			rid := sp.adoptID
			sp.adopts[rid] = ch
			sp.mu.Unlock()
			l.queueControl((&sessionMsg{typ: frameAdopt, id: rid, tenant: t.name, client: id}).encode())
			reqs = append(reqs, req{rid, l.peer, t.name, id, ch})
		}
	}
	var failed []string
	for _, r := range reqs {
		select {
		case ok := <-r.ch:
			if !ok {
				failed = append(failed, r.tenant+"/"+r.client+" to "+r.peer)
			}
		case <-ctx.Done():
			sp.mu.Lock()
			for _, r := range reqs {
				delete(sp.adopts, r.id)
			}
			sp.mu.Unlock()
			return fmt.Errorf("cluster: hand-off of %d sessions: %w", len(reqs), ctx.Err())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("cluster: hand-off: %d of %d sessions not taken whole: %v", len(failed), len(reqs), failed)
	}
	c.log.Info("sessions handed off", zap.Int("sessions", len(reqs)))
	return nil
}

// sessionHolder returns the link whose peer has the highest hash with the
// tenant and client id.
func sessionHolder(links []*link, tenant, client string) *link {
	var best *link
	var bestH uint64
	for _, l := range links {
		sum := sha256.Sum256([]byte(l.peer + "\x00" + tenant + "\x00" + client))
		if v := binary.BigEndian.Uint64(sum[:8]); best == nil || v > bestH || (v == bestH && l.peer < best.peer) {
			best, bestH = l, v
		}
	}
	return best
}

// SessionStats are this node's figures of sessions across nodes.
type SessionStats struct {
	// Claims counts the claims this node made (CONNECTs and adoptions
	// with live peers).
	Claims int64 `json:"claims"`
	// ClaimTimeouts counts claim steps, and fences of a session moving
	// away, that went on without a peer's answer (Config.ClaimWait
	// passed).
	ClaimTimeouts int64 `json:"claim_timeouts"`
	// SessionsMoved counts sessions moved here from a peer.
	SessionsMoved int64 `json:"sessions_moved"`
	// ClaimsSlowed counts claims of a flapping client id made to wait.
	ClaimsSlowed int64 `json:"claims_slowed"`
	// WillsPublished counts wills of lost nodes' sessions published here.
	WillsPublished int64 `json:"wills_published"`
}

// SessionStats returns this node's figures of sessions across nodes.
func (c *Cluster) SessionStats() SessionStats {
	return SessionStats{Claims: c.sess.claims.Load(), ClaimTimeouts: c.sess.timeouts.Load(),
		SessionsMoved: c.sess.moved.Load(), ClaimsSlowed: c.sess.slowed.Load(), WillsPublished: c.wills.published.Load()}
}
