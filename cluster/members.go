package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// nodeMeta is the metadata a node gossips about itself.
type nodeMeta struct {
	Link  string `json:"l"` // advertised link address
	Epoch uint64 `json:"e"` // boot epoch
	Proto int    `json:"p"` // link protocol version
}

// startGossip creates the memberlist and joins the seeds it reaches.
func (c *Cluster) startGossip() error {
	host, portStr, err := net.SplitHostPort(c.cfg.GossipAddr)
	if err != nil {
		return fmt.Errorf("cluster: gossip address %q: %w", c.cfg.GossipAddr, err)
	}
	port, _ := strconv.Atoi(portStr)
	if host == "" {
		host = "0.0.0.0"
	}
	c.mlLog = &mlWriter{log: c.log.Named("memberlist")}
	mlog := log.New(c.mlLog, "", 0)
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: mlog})
	if err != nil {
		return fmt.Errorf("cluster: gossip address %s: %w", c.cfg.GossipAddr, err)
	}
	c.transport = newFilterTransport(nt, c.allowed, localTCPAddr(c.cfg.GossipAddr), c.log)
	bound := &net.TCPAddr{IP: net.ParseIP(host), Port: nt.GetAutoBindPort()}
	c.gossipAdv = advertised(c.cfg.GossipAdvertise, bound)
	advHost, advPort, _ := net.SplitHostPort(c.gossipAdv)
	ap, _ := strconv.Atoi(advPort)

	mc := memberlist.DefaultLANConfig()
	mc.Name = c.cfg.Name
	mc.Transport = c.transport
	mc.BindAddr, mc.BindPort = host, nt.GetAutoBindPort()
	mc.AdvertiseAddr, mc.AdvertisePort = advHost, ap
	mc.Label = c.cfg.Label
	if key := derive(c.cfg.Secret, "jmqx gossip"); key != nil {
		mc.SecretKey = key
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.PushPullInterval = c.cfg.PushPullInterval
	if c.cfg.GossipToTheDeadTime > 0 {
		mc.GossipToTheDeadTime = c.cfg.GossipToTheDeadTime
	}
	mc.Delegate = &delegate{c: c}
	mc.Events = &events{c: c}
	mc.Logger = mlog
	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = c.transport.Shutdown()
		return fmt.Errorf("cluster: gossip: %w", err)
	}
	c.ml = ml
	return nil
}

// rejoinLoop joins, now and every RejoinInterval, the seeds that gossip
// does not see alive: memberlist forgets a dead node after
// GossipToTheDeadTime, so only this heals a longer partition.
func (c *Cluster) rejoinLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.RejoinInterval)
	defer t.Stop()
	for {
		c.rejoin()
		select {
		case <-c.done:
			return
		case <-t.C:
		case <-c.rejoinNow:
		}
	}
}

// Rejoin joins, without waiting, the Seeds that gossip does not see alive,
// now rather than at the next RejoinInterval: call it when the members the
// control plane knows change.
func (c *Cluster) Rejoin() {
	select {
	case c.rejoinNow <- struct{}{}:
	default:
	}
}

// rejoin joins the seeds not alive in gossip.
func (c *Cluster) rejoin() {
	if c.cfg.Seeds == nil {
		return
	}
	alive := map[string]bool{}
	for _, n := range c.ml.Members() {
		alive[n.Name] = true
	}
	var addrs []string
	for _, s := range c.cfg.Seeds() {
		if s.Name != c.cfg.Name && s.GossipAddr != "" && !alive[s.Name] {
			addrs = append(addrs, s.GossipAddr)
		}
	}
	if len(addrs) == 0 {
		return
	}
	n, err := c.ml.Join(addrs)
	if err != nil {
		c.log.Debug("rejoin: some members not reached", zap.Strings("addrs", addrs), zap.Int("reached", n), zap.Error(err))
	}
}

// Member is one node as this node's data plane sees it.
type Member struct {
	Name string
	// Gossip is its membership state: alive, suspect, dead or left.
	Gossip string
	// Link is the state of this node's link to it: up, connecting, or
	// down (no link: the node is not alive); "self" for this node.
	Link string
	// LinkAddr is the link address it gossips.
	LinkAddr string
}

// Members returns every node gossip has seen, this one included.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	out := make([]Member, 0, len(c.peerInfo)+1)
	out = append(out, Member{Name: c.cfg.Name, Gossip: "alive", Link: "self", LinkAddr: c.linkAdv})
	for name, p := range c.peerInfo {
		m := Member{Name: name, Gossip: p.state, Link: "down", LinkAddr: p.meta.Link}
		if l := c.links[name]; l != nil {
			m.Link = l.linkState()
		}
		out = append(out, m)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// events feeds memberlist's notifications to the event loop: they arrive
// under memberlist's locks and must not block.
type events struct{ c *Cluster }

func (e *events) NotifyJoin(n *memberlist.Node)   { e.c.events.push(nodeEvent(n)) }
func (e *events) NotifyUpdate(n *memberlist.Node) { e.c.events.push(nodeEvent(n)) }

// NotifyLeave reports a node dead or departed. memberlist v0.6.0 hands it
// a Node whose State is never set (nodeState.State shadows it), which
// nodeEvent would read as alive.
func (e *events) NotifyLeave(n *memberlist.Node) {
	ev := nodeEvent(n)
	if ev.state == "alive" || ev.state == "suspect" {
		ev.state = "dead"
	}
	e.c.events.push(ev)
}

// event is a node's new gossip state.
type event struct {
	name  string
	state string
	meta  []byte
}

func nodeEvent(n *memberlist.Node) event {
	s := "alive"
	switch n.State {
	case memberlist.StateSuspect:
		s = "suspect"
	case memberlist.StateDead:
		s = "dead"
	case memberlist.StateLeft:
		s = "left"
	}
	return event{name: n.Name, state: s, meta: bytes.Clone(n.Meta)}
}

// eventQueue is an unbounded queue of events (one per membership change:
// bounded by the cluster's size over time).
type eventQueue struct {
	mu     sync.Mutex
	q      []event
	wake   chan struct{}
	closed bool
}

func (q *eventQueue) init() { q.wake = make(chan struct{}, 1) }

func (q *eventQueue) push(e event) {
	q.mu.Lock()
	if !q.closed {
		q.q = append(q.q, e)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() []event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	return out
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// eventLoop applies membership changes in order.
func (c *Cluster) eventLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.events.wake:
		}
		for _, e := range c.events.take() {
			c.apply(e)
		}
	}
}

// apply applies one membership change: a live peer gets a link; a dead or
// departed one loses its link and its routes, and nobody waits for it.
func (c *Cluster) apply(e event) {
	if e.name == c.cfg.Name {
		return
	}
	var meta nodeMeta
	if err := json.Unmarshal(e.meta, &meta); err != nil && e.state == "alive" {
		c.log.Warn("member ignored: unreadable metadata (another program on the gossip port?)", zap.String("member", e.name), zap.Error(err))
		return
	}
	live := e.state == "alive" || e.state == "suspect"
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	prev := c.peerInfo[e.name]
	if !live && meta.Link == "" {
		meta = prev.meta
	}
	c.peerInfo[e.name] = peerState{state: e.state, meta: meta}
	old := c.links[e.name]
	var start *link
	if old != nil && (!live || old.addr != meta.Link || old.epoch != meta.Epoch) {
		delete(c.links, e.name)
	} else {
		old = nil
	}
	if live && c.links[e.name] == nil {
		if meta.Proto != protocolVersion {
			c.log.Warn("member ignored: another link protocol", zap.String("member", e.name), zap.Int("protocol", meta.Proto))
		} else {
			start = newLink(c, e.name, meta.Link, meta.Epoch)
			c.links[e.name] = start
		}
	}
	c.setLinksLocked()
	var in *inbound
	if old != nil || !live {
		in = c.inbound[e.name]
		delete(c.inbound, e.name)
	}
	if start != nil {
		c.wg.Add(1)
		go start.run()
	}
	c.mu.Unlock()
	if old != nil {
		old.close()
	}
	if in != nil {
		in.close()
	}
	if old != nil || !live {
		dropped := 0
		for _, r := range c.remoteList() {
			dropped += r.drop(e.name)
		}
		for _, t := range c.tenantList() {
			t.checkWaiters()
		}
		c.log.Info("member gone: its routes are dropped", zap.String("member", e.name), zap.String("state", e.state),
			zap.Int("routes", dropped))
	}
	if !live {
		c.wills.originLost(e.name, c.livePeers())
	}
	if start != nil {
		c.wills.originBack(e.name)
		c.sendWills(start)
		c.log.Info("member alive: linking", zap.String("member", e.name), zap.String("link", meta.Link))
	}
}

// remoteList returns every tenant's remote routes.
func (c *Cluster) remoteList() []*remoteRoutes {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*remoteRoutes, 0, len(c.remote))
	for _, r := range c.remote {
		out = append(out, r)
	}
	return out
}

// delegate gives memberlist this node's metadata and route digests.
type delegate struct{ c *Cluster }

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(nodeMeta{Link: d.c.linkAdv, Epoch: d.c.epoch, Proto: protocolVersion})
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate; nothing travels as a user
// message.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }

// digests is the push/pull state: a node's route digest per tenant.
type digests struct {
	Name    string            `json:"n"`
	Epoch   uint64            `json:"e"`
	Tenants map[string]digest `json:"t"`
	// Retained is the hash of each tenant's retained store (retain.go).
	Retained map[string]uint64 `json:"r,omitempty"`
}

// LocalState implements memberlist.Delegate: this node's route digests.
func (d *delegate) LocalState(bool) []byte {
	st := digests{Name: d.c.cfg.Name, Epoch: d.c.epoch, Tenants: map[string]digest{}, Retained: map[string]uint64{}}
	for _, t := range d.c.tenantList() {
		st.Tenants[t.name] = t.digest()
		st.Retained[t.name] = t.retained.digest()
	}
	b, _ := json.Marshal(st)
	return b
}

// MergeRemoteState implements memberlist.Delegate: a peer's digests that
// differ from what its link brought ask it for those tenants again.
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	var st digests
	if err := json.Unmarshal(buf, &st); err != nil || st.Name == "" || st.Name == d.c.cfg.Name {
		return
	}
	c := d.c
	c.mu.Lock()
	in := c.inbound[st.Name]
	c.mu.Unlock()
	if in == nil || in.epoch != st.Epoch {
		return // no link yet, or another boot: the link's snapshot will do
	}
	c.checkRetained(st.Name, st.Retained)
	var stale []string
	for name, dg := range st.Tenants {
		if c.remoteFor(name).check(st.Name, dg) {
			stale = append(stale, name)
		}
	}
	// Gossip must not wait on a link: the requests go from a goroutine of
	// their own, one per link at a time (a later digest asks again).
	if len(stale) == 0 || !in.resyncing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer in.resyncing.Store(false)
		for _, name := range stale {
			c.resyncs.Add(1)
			c.log.Info("route digest differs: asking the peer for the tenant's routes again",
				zap.String("peer", st.Name), zap.String("tenant", name))
			in.requestResync(name)
		}
	}()
}

// mlWriter turns memberlist's log lines into zap entries at their level.
// Some of memberlist's goroutines outlive its Shutdown: once off, their
// lines are dropped.
type mlWriter struct {
	log *zap.Logger
	mu  sync.RWMutex
	off bool
}

// stop drops every later line; a line being written is written first.
func (w *mlWriter) stop() {
	w.mu.Lock()
	w.off = true
	w.mu.Unlock()
}

func (w *mlWriter) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.off {
		return len(p), nil
	}
	line := string(bytes.TrimSpace(p))
	switch {
	case bytes.Contains(p, []byte("[ERR]")):
		w.log.Error(line)
	case bytes.Contains(p, []byte("[WARN]")):
		w.log.Warn(line)
	case bytes.Contains(p, []byte("[INFO]")):
		w.log.Info(line)
	default:
		w.log.Debug(line)
	}
	return len(p), nil
}

// filterTransport is memberlist's network transport, hearing only the
// addresses Config.Allowed accepts.
type filterTransport struct {
	*memberlist.NetTransport
	allowed func(net.Addr) bool
	local   *net.TCPAddr // where streams are dialed from; nil: the kernel's choice
	log     *zap.Logger
	logMu   sync.Mutex
	lastLog time.Time // of a refusal
	packets chan *memberlist.Packet
	streams chan net.Conn
	quit    chan struct{} // closed at Shutdown: drop what still arrives
	stopped chan struct{} // closed once the inner transport is down
	wg      sync.WaitGroup
}

func newFilterTransport(nt *memberlist.NetTransport, allowed func(net.Addr) bool, local *net.TCPAddr, log *zap.Logger) *filterTransport {
	t := &filterTransport{NetTransport: nt, allowed: allowed, local: local, log: log, packets: make(chan *memberlist.Packet),
		streams: make(chan net.Conn), quit: make(chan struct{}), stopped: make(chan struct{})}
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		for {
			select {
			case <-t.stopped:
				return
			case p := <-nt.PacketCh():
				if !allowed(p.From) {
					t.refused(p.From)
				} else {
					select {
					case t.packets <- p:
					case <-t.quit:
					}
				}
			}
		}
	}()
	go func() {
		defer t.wg.Done()
		for {
			select {
			case <-t.stopped:
				return
			case s := <-nt.StreamCh():
				if !allowed(s.RemoteAddr()) {
					t.refused(s.RemoteAddr())
					_ = s.Close()
					continue
				}
				select {
				case t.streams <- s:
				case <-t.quit:
					_ = s.Close()
				}
			}
		}
	}()
	return t
}

// refused logs, at most once every 10 s, that gossip from addr was ignored.
func (t *filterTransport) refused(addr net.Addr) {
	t.logMu.Lock()
	now := time.Now()
	logIt := now.Sub(t.lastLog) >= 10*time.Second
	if logIt {
		t.lastLog = now
	}
	t.logMu.Unlock()
	if logIt {
		t.log.Warn("gossip ignored: the address is not a cluster member's (logged once every 10 s)", zap.Stringer("remote", addr))
	}
}

// DialTimeout implements memberlist.Transport, from the bound address.
func (t *filterTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: t.local}
	return d.Dial("tcp", addr)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *filterTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// PacketCh implements memberlist.Transport.
func (t *filterTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh implements memberlist.Transport.
func (t *filterTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown implements memberlist.Transport. The relays drain the inner
// transport until it is down: its listeners block on sending to them.
func (t *filterTransport) Shutdown() error {
	close(t.quit)
	err := t.NetTransport.Shutdown()
	close(t.stopped)
	t.wg.Wait()
	return err
}
