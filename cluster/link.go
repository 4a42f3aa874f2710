package cluster

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
)

// link is this node's side of the link to one live peer: it dials the
// peer and sends, in order, this node's routes (a snapshot of every tenant
// when it connects, then each change) and the messages forwarded to the
// peer. The peer answers on the same connection with cumulative
// acknowledgements. Forwards stay queued until acknowledged: those not
// acknowledged when a connection breaks are sent again on the next, and
// the peer drops the ones it already delivered.
type link struct {
	c     *Cluster
	peer  string
	addr  string // the peer's link address
	epoch uint64 // the peer's boot epoch
	quit  chan struct{}

	mu      sync.Mutex
	cond    *sync.Cond
	state   string // connecting, up, closed
	conn    net.Conn
	broken  bool // the current connection failed
	routes  []queuedRoute
	ctrl    [][]byte        // session frames (sessionframe.go), kept across reconnections
	resync  map[string]bool // tenants whose snapshot to (re)send; all: on connect
	pending []*pendingFwd   // by id: queued, then written but unacknowledged
	sent    int             // pending[:sent] are written on the current connection
	scan    int             // pending[:scan] no longer hold a publisher back
	bytes   int64           // size of pending
	nextID  uint64
	acked   map[string]uint64 // route version per tenant the peer applied, this connection
	lastLog time.Time         // of a dropped forward
	// retained store replication (retain.go)
	retains     [][]byte       // changes to write
	retainSnaps []*tenantPeers // tenants whose whole store to stream
	retainCur   *retainCursor  // the stream being written; the writer's
	// fwdProbe and routeProbe time one forward and one route change from
	// their write to their acknowledgement (at most one of each in
	// flight, on the current connection): the link's round trip, in rtt.
	fwdProbe   fwdProbe
	routeProbe routeProbe
	// rtt is the last round trip measured, in nanoseconds; 0 until one is.
	rtt atomic.Int64
}

// fwdProbe is a forward written at a known time: its acknowledgement (or
// a later one, acknowledgements being cumulative) ends a round trip.
type fwdProbe struct {
	id uint64 // 0: none in flight
	at time.Time
}

// routeProbe is a route change written at a known time: the peer's
// acknowledgement of that version of the tenant's routes (or a later one)
// ends a round trip.
type routeProbe struct {
	tenant  string // "": none in flight
	version uint64
	at      time.Time
}

// queuedRoute is a route frame waiting to be written.
type queuedRoute struct {
	tenant  string
	version uint64
	frame   []byte
}

// pendingFwd is one forward to the peer.
type pendingFwd struct {
	id     uint64
	body   []byte // shared by every peer of the message
	groups []string
	w      broker.ForwardWaiter // nil once the publisher no longer waits for it
	at     time.Time
	pc     *peerCounters
	size   int64
	t      *tenantPeers // its tenant
	hops   uint64       // nodes it went through before this one (shared.go)
}

// smallBatch is the number of queued forwards below which a writer that
// was waiting yields once before writing, so that a burst goes out in one
// write rather than one write per message.
const smallBatch = 16

// linkWriteTimeout bounds one flush to a peer; past it the connection is
// dropped and made again.
const linkWriteTimeout = 10 * time.Second

func newLink(c *Cluster, peer, addr string, epoch uint64) *link {
	l := &link{c: c, peer: peer, addr: addr, epoch: epoch, quit: make(chan struct{}), state: "connecting",
		acked: map[string]uint64{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// queueRoute queues a route frame of tenant at version.
func (l *link) queueRoute(tenant string, version uint64, fr []byte) {
	l.mu.Lock()
	if l.state != "closed" {
		l.routes = append(l.routes, queuedRoute{tenant, version, fr})
		l.cond.Signal()
	}
	l.mu.Unlock()
}

// queueControl queues a session frame; it is dropped if the link is closed.
func (l *link) queueControl(fr []byte) { l.queueFrame(&l.ctrl, fr) }

// queueFrame appends fr to q, one of the link's frame queues, and wakes the
// writer; fr is dropped if the link is closed.
func (l *link) queueFrame(q *[][]byte, fr []byte) {
	l.mu.Lock()
	if l.state != "closed" {
		*q = append(*q, fr)
		l.cond.Signal()
	}
	l.mu.Unlock()
}

// requeueControl puts back, in front, session frames whose write failed.
func (l *link) requeueControl(frames [][]byte) {
	l.mu.Lock()
	if l.state != "closed" {
		l.ctrl = append(frames, l.ctrl...)
	}
	l.mu.Unlock()
}

// routeAcked returns the version of tenant's routes the peer has applied
// on the current connection (0: none, or not connected).
func (l *link) routeAcked(tenant string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != "up" {
		return 0
	}
	return l.acked[tenant]
}

// State returns the link's state: connecting, up or closed.
func (l *link) linkState() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// forward queues a forward; false when it is dropped (the link is closed,
// or the peer's queue is full), in which case nobody waits for it.
func (l *link) forward(t *tenantPeers, peer string, body []byte, groups []string, w broker.ForwardWaiter) bool {
	return l.forwardHops(t, peer, body, groups, w, 0)
}

// forwardHops is forward of a message that went through hops nodes.
func (l *link) forwardHops(t *tenantPeers, peer string, body []byte, groups []string, w broker.ForwardWaiter, hops uint64) bool {
	pc := t.counters(peer)
	size := int64(len(body) + 64)
	for _, gr := range groups {
		size += int64(len(gr) + 16)
	}
	now := time.Now()
	l.mu.Lock()
	if l.state == "closed" {
		l.mu.Unlock()
		return false
	}
	if l.bytes+size > l.c.cfg.MaxPeerBytes {
		logIt := now.Sub(l.lastLog) >= 5*time.Second
		if logIt {
			l.lastLog = now
		}
		queued := l.bytes
		l.mu.Unlock()
		pc.dropped.Add(1)
		if logIt {
			l.c.log.Warn("forward dropped: the queue to the peer is full; its subscribers miss messages (counted per tenant)",
				zap.String("peer", l.peer), zap.String("tenant", t.name), zap.Int64("queued_bytes", queued),
				zap.Int64("max_peer_bytes", l.c.cfg.MaxPeerBytes))
		}
		return false
	}
	l.nextID = l.c.fwdIDs.Add(1)
	l.pending = append(l.pending, &pendingFwd{id: l.nextID, body: body, groups: groups, w: w, at: now, pc: pc, size: size,
		t: t, hops: hops})
	l.bytes += size
	l.cond.Signal()
	l.mu.Unlock()
	pc.awaiting.Add(1)
	pc.outMsgs.Add(1)
	pc.outBytes.Add(int64(len(body)))
	return true
}

// acknowledged removes the forwards up to id, which the peer has.
func (l *link) acknowledged(id uint64) {
	var done []broker.ForwardWaiter
	l.mu.Lock()
	if l.fwdProbe.id != 0 && id >= l.fwdProbe.id {
		l.rtt.Store(int64(max(time.Since(l.fwdProbe.at), 1)))
		l.fwdProbe = fwdProbe{}
	}
	k := 0
	for k < len(l.pending) && l.pending[k].id <= id {
		p := l.pending[k]
		if p.w != nil {
			done = append(done, p.w)
		}
		l.bytes -= p.size
		p.pc.awaiting.Add(-1)
		l.pending[k] = nil
		k++
	}
	l.pending = l.pending[k:]
	l.sent = max(0, l.sent-k)
	l.scan = max(0, l.scan-k)
	l.mu.Unlock()
	for _, w := range done {
		w.Forwarded()
	}
}

// expireForwards lets publishers go on whose forwards the peer has not
// acknowledged within ForwardWait; the forwards stay queued.
func (l *link) expireForwards(now time.Time) {
	var done []broker.ForwardWaiter
	l.mu.Lock()
	for l.scan < len(l.pending) && now.Sub(l.pending[l.scan].at) >= l.c.cfg.ForwardWait {
		p := l.pending[l.scan]
		if p.w != nil {
			done = append(done, p.w)
			p.w = nil
			p.pc.ackTimeouts.Add(1)
		}
		l.scan++
	}
	l.mu.Unlock()
	for _, w := range done {
		w.Forwarded()
	}
}

// close ends the link for good (the peer left or died, or this node
// stops): nobody waits for its forwards any more.
func (l *link) close() {
	var done []broker.ForwardWaiter
	var orphans []*pendingFwd
	l.mu.Lock()
	if l.state == "closed" {
		l.mu.Unlock()
		return
	}
	l.state = "closed"
	for _, p := range l.pending {
		p.pc.awaiting.Add(-1)
		if len(p.groups) > 0 {
			orphans = append(orphans, p) // its shared groups go to other members
			continue
		}
		if p.w != nil {
			done = append(done, p.w)
		}
	}
	l.pending, l.routes, l.ctrl, l.bytes = nil, nil, nil, 0
	if l.conn != nil {
		_ = l.conn.Close()
	}
	close(l.quit)
	l.cond.Broadcast()
	l.mu.Unlock()
	for _, w := range done {
		w.Forwarded()
	}
	l.c.rehome(l.peer, orphans)
}

// run keeps the link connected until it is closed.
func (l *link) run() {
	defer l.c.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-l.quit:
			return
		default:
		}
		conn, err := l.dial()
		if err != nil {
			l.c.log.Debug("link to peer not connected", zap.String("peer", l.peer), zap.String("addr", l.addr), zap.Error(err))
			select {
			case <-l.quit:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		l.serve(conn)
	}
}

// dial connects to the peer and completes the handshake.
func (l *link) dial() (net.Conn, error) {
	conn, err := l.c.cfg.Dial(l.addr)
	if err != nil {
		return nil, err
	}
	if l.c.cfg.TLS != nil {
		tc := l.c.cfg.TLS.Clone()
		if tc.ServerName == "" { // as tls.Dial does: the certificate must name the address dialed
			tc.ServerName, _, _ = net.SplitHostPort(l.addr)
		}
		conn = tls.Client(conn, tc)
	}
	if err := l.handshake(conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// handshake proves this node to the peer: the peer sends a challenge,
// this node answers with its name, epoch, protocol version, the tenants
// whose snapshots follow and an HMAC of the challenge.
func (l *link) handshake(conn net.Conn) error {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer func() { _ = conn.SetDeadline(time.Time{}) }()
	br := bufio.NewReaderSize(conn, 4096)
	typ, body, _, err := readFrame(br, nil, maxHandshakeFrame)
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	ch, err := decodeChallenge(typ, body)
	if err != nil {
		return err
	}
	if ch.name != l.peer {
		return fmt.Errorf("the link address %s answers as node %q, not %q", l.addr, ch.name, l.peer)
	}
	tenants := make([]string, 0)
	for _, t := range l.c.tenantList() {
		tenants = append(tenants, t.name)
	}
	l.mu.Lock()
	l.resync = make(map[string]bool, len(tenants))
	for _, t := range tenants {
		l.resync[t] = true
	}
	l.routes = nil // the snapshots replace what was queued
	l.mu.Unlock()
	l.resetRetains(l.c.tenantList())
	h := hello{name: l.c.cfg.Name, epoch: l.c.epoch, proto: protocolVersion, tenants: tenants,
		proof: proof(l.c.linkKey, ch.nonce, l.c.cfg.Name, l.c.epoch)}
	if _, err := conn.Write(h.frame()); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	typ, _, _, err = readFrame(br, nil, maxHandshakeFrame)
	if err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	if typ != frameWelcome {
		return fmt.Errorf("%w: frame %d instead of welcome", errFrame, typ)
	}
	if br.Buffered() > 0 {
		return fmt.Errorf("%w: data after welcome", errFrame)
	}
	return nil
}

// serve runs one connection of the link until it fails or the link closes.
func (l *link) serve(conn net.Conn) {
	l.mu.Lock()
	if l.state == "closed" {
		l.mu.Unlock()
		_ = conn.Close()
		return
	}
	l.state, l.conn, l.broken, l.sent = "up", conn, false, 0
	l.acked = map[string]uint64{}
	l.fwdProbe, l.routeProbe = fwdProbe{}, routeProbe{}
	l.mu.Unlock()
	l.c.log.Info("link to peer up", zap.String("peer", l.peer), zap.String("addr", l.addr))
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		err := l.readAcks(conn)
		l.fail(conn, err)
	}()
	err := l.write(conn)
	l.fail(conn, err)
	<-readDone
	l.mu.Lock()
	if l.state != "closed" {
		l.state, l.conn = "connecting", nil
	}
	l.mu.Unlock()
	for _, t := range l.c.tenantList() {
		t.checkWaiters()
	}
}

// fail ends conn after an error.
func (l *link) fail(conn net.Conn, err error) {
	l.mu.Lock()
	first := !l.broken && l.conn == conn
	l.broken = true
	l.cond.Broadcast()
	closed := l.state == "closed"
	l.mu.Unlock()
	_ = conn.Close()
	if first && !closed && err != nil {
		l.c.linkErrors.Add(1)
		l.c.log.Info("link to peer down; reconnecting", zap.String("peer", l.peer), zap.Error(err))
	}
}

// write sends what is queued, in batches, until the connection fails.
func (l *link) write(conn net.Conn) error {
	w := bufio.NewWriterSize(conn, 64<<10)
	var hdr []byte
	for {
		l.mu.Lock()
		waited := false
		for len(l.routes) == 0 && len(l.ctrl) == 0 && len(l.resync) == 0 && l.sent == len(l.pending) && !l.retainPending() && !l.broken && l.state != "closed" {
			l.cond.Wait()
			waited = true
		}
		if waited && len(l.pending)-l.sent < smallBatch {
			// Woken by the first forward of a burst: let the publishers
			// running now add theirs, and write them in one go.
			l.mu.Unlock()
			runtime.Gosched()
			l.mu.Lock()
		}
		if l.broken || l.state == "closed" {
			l.mu.Unlock()
			return nil
		}
		resync := l.resync
		l.resync = nil
		l.mu.Unlock()
		if len(resync) > 0 {
			l.queueSnapshots(resync)
		}
		l.mu.Lock()
		routes, ctrl := l.routes, l.ctrl
		l.routes, l.ctrl = nil, nil
		batch := l.pending[l.sent:]
		l.sent = len(l.pending)
		l.startProbes(routes, batch)
		l.mu.Unlock()
		for _, r := range routes {
			if _, err := w.Write(r.frame); err != nil {
				return err
			}
		}
		if err := l.writeRetains(w); err != nil {
			l.requeueControl(ctrl)
			return err
		}
		for _, p := range batch {
			if p.hops > 0 {
				hdr = reforwardHeader(hdr[:0], p.hops, p.id, p.groups, p.body)
			} else {
				hdr = forwardHeader(hdr[:0], p.id, p.groups, p.body)
			}
			if _, err := w.Write(hdr); err != nil {
				l.requeueControl(ctrl)
				return err
			}
			if _, err := w.Write(p.body); err != nil {
				l.requeueControl(ctrl)
				return err
			}
		}
		// Session frames after the forwards queued before them: a claim's
		// take must not overtake a forward to the session it takes away,
		// or the old holder would acknowledge that message and deliver it
		// to nobody.
		for _, fr := range ctrl {
			if _, err := w.Write(fr); err != nil {
				l.requeueControl(ctrl)
				return err
			}
		}
		_ = conn.SetWriteDeadline(time.Now().Add(linkWriteTimeout))
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// startProbes starts timing the last of routes and of batch, about to be
// written, unless a probe of that kind is in flight; l.mu held.
func (l *link) startProbes(routes []queuedRoute, batch []*pendingFwd) {
	var now time.Time
	if l.fwdProbe.id == 0 && len(batch) > 0 {
		now = time.Now()
		l.fwdProbe = fwdProbe{id: batch[len(batch)-1].id, at: now}
	}
	if l.routeProbe.tenant == "" && len(routes) > 0 {
		if r := routes[len(routes)-1]; r.version != 0 {
			if now.IsZero() {
				now = time.Now()
			}
			l.routeProbe = routeProbe{tenant: r.tenant, version: r.version, at: now}
		}
	}
}

// queueSnapshots queues a snapshot of each tenant in tenants (a drop for
// one no longer attached), replacing the changes of it already queued.
func (l *link) queueSnapshots(tenants map[string]bool) {
	for name := range tenants {
		t := l.c.tenant(name)
		if t == nil {
			fr := frame(frameDropTenant, func(b []byte) []byte { return appendUint(appendString(b, name), 0) })
			l.mu.Lock()
			l.routes = append(l.routes, queuedRoute{name, 0, fr})
			l.mu.Unlock()
			continue
		}
		t.mu.Lock()
		entries, v := t.snapshot()
		frames := appendSnapshot(nil, name, v, entries)
		l.mu.Lock()
		kept := l.routes[:0]
		for _, r := range l.routes {
			if r.tenant != name || r.version > v {
				kept = append(kept, r)
			}
		}
		l.routes = append(kept, queuedRoute{name, v, frames})
		l.mu.Unlock()
		t.mu.Unlock()
	}
}

// readAcks reads the peer's answers until the connection fails.
func (l *link) readAcks(conn net.Conn) error {
	br := bufio.NewReaderSize(conn, 4096)
	var buf []byte
	for {
		typ, body, nbuf, err := readFrame(br, buf, maxHandshakeFrame)
		buf = nbuf
		if err != nil {
			return err
		}
		switch typ {
		case frameForwardAck:
			r := reader{b: body}
			id := r.uint()
			if err := r.end(); err != nil {
				return err
			}
			l.acknowledged(id)
		case frameRouteAck:
			tenant, v, err := decodeTenantVersion(body)
			if err != nil {
				return err
			}
			l.mu.Lock()
			if v > l.acked[tenant] || v == 0 {
				l.acked[tenant] = v
			}
			if p := l.routeProbe; p.tenant == tenant && v >= p.version {
				l.rtt.Store(int64(max(time.Since(p.at), 1)))
				l.routeProbe = routeProbe{}
			}
			l.mu.Unlock()
			if t := l.c.tenant(tenant); t != nil {
				t.checkWaiters()
			}
		case frameResync:
			r := reader{b: body}
			tenant := r.string()
			if err := r.end(); err != nil {
				return err
			}
			l.c.resyncs.Add(1)
			l.mu.Lock()
			if l.resync == nil {
				l.resync = map[string]bool{}
			}
			l.resync[tenant] = true
			l.cond.Signal()
			l.mu.Unlock()
		default:
			return fmt.Errorf("%w: unexpected frame %d from the peer", errFrame, typ)
		}
	}
}
