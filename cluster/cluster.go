package cluster

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
)

// Cluster is one node's data plane: its membership, its links to the other
// nodes, every tenant's routes and the forwarding of messages.
type Cluster struct {
	cfg   Config
	log   *zap.Logger
	epoch uint64 // this boot's epoch, in the gossip metadata and link hellos
	// linkKey authenticates links (derived from Config.Secret).
	linkKey []byte

	ml        *memberlist.Memberlist
	transport *filterTransport
	mlLog     *mlWriter
	ln        net.Listener
	linkAdv   string
	gossipAdv string

	mu       sync.Mutex
	tenants  map[string]*tenantPeers  // attached on this node
	remote   map[string]*remoteRoutes // by tenant, made on first use
	links    map[string]*link         // to each live peer
	inbound  map[string]*inbound      // from each peer
	dedup    map[string]dedupState    // per origin node
	peerInfo map[string]peerState     // gossip state of every node seen
	closed   bool
	// linkList is links as a slice, replaced whole under mu.
	linkList atomic.Pointer[[]*link]

	sess  *sessionPlane // claims of client ids (sessions.go)
	wills *willPlane    // the peers' wills (wills.go)

	events    eventQueue
	rejoinNow chan struct{} // wakes rejoinLoop (Rejoin)
	wg        sync.WaitGroup
	done      chan struct{}

	// versions numbers every change of this node's routes, all tenants.
	versions atomic.Uint64
	// tenantGen changes whenever a tenant is attached or detached.
	tenantGen atomic.Uint64

	subackTimeouts atomic.Int64
	resyncs        atomic.Int64
	linkErrors     atomic.Int64
	retainRepairs  atomic.Int64
	// clock stamps the retained changes made on this node (retain.go).
	clock hlc
	// fwdIDs numbers the forwards of every link: a link made anew to a
	// peer (dead, then alive again) continues above the ids the peer
	// has seen from this boot, which it would drop as duplicates.
	fwdIDs atomic.Uint64
}

// peerState is what gossip last said of a node.
type peerState struct {
	state string // alive, suspect, dead, left
	meta  nodeMeta
}

// dedupState is the last forward delivered from one origin in one epoch.
type dedupState struct {
	epoch uint64
	last  uint64
}

// newCluster returns a Cluster with its tables made and nothing started.
func newCluster(cfg Config, log *zap.Logger, epoch uint64) *Cluster {
	c := &Cluster{cfg: cfg, log: log, epoch: epoch,
		tenants: make(map[string]*tenantPeers), remote: make(map[string]*remoteRoutes),
		links: make(map[string]*link), inbound: make(map[string]*inbound), dedup: make(map[string]dedupState),
		peerInfo: make(map[string]peerState), done: make(chan struct{}), rejoinNow: make(chan struct{}, 1)}
	c.linkList.Store(&[]*link{})
	c.sess, c.wills = newSessionPlane(), newWillPlane(c)
	c.events.init()
	return c
}

// New starts a node's data plane: it binds the gossip and link addresses,
// joins the Seeds it can reach, and keeps re-joining the others. It returns
// once bound; joining goes on in the background.
func New(cfg Config, log *zap.Logger) (*Cluster, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := newCluster(cfg, log.Named("cluster"), uint64(time.Now().UnixNano()))
	c.linkKey = derive(cfg.Secret, "jmqx link")
	if err := c.listen(); err != nil {
		return nil, err
	}
	if err := c.startGossip(); err != nil {
		_ = c.ln.Close()
		return nil, err
	}
	c.wg.Add(4)
	go c.acceptLoop()
	go c.eventLoop()
	go c.tickLoop()
	go c.rejoinLoop()
	c.log.Info("cluster data plane started", zap.String("gossip", c.gossipAdv), zap.String("link", c.linkAdv),
		zap.Bool("gossip_encrypted", len(cfg.Secret) > 0))
	return c, nil
}

// derive returns a 32-byte key for purpose from secret (nil for none).
func derive(secret []byte, purpose string) []byte {
	if len(secret) == 0 {
		return nil
	}
	h := sha256.New()
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(secret)
	return h.Sum(nil)
}

// listen binds the link address.
func (c *Cluster) listen() error {
	ln, err := net.Listen("tcp", c.cfg.LinkAddr)
	if err != nil {
		return fmt.Errorf("cluster: link address %s: %w", c.cfg.LinkAddr, err)
	}
	c.linkAdv = advertised(c.cfg.LinkAdvertise, ln.Addr())
	if c.cfg.Listen != nil {
		ln = c.cfg.Listen(ln)
	}
	c.ln = ln
	return nil
}

// advertised returns adv, with port 0 replaced by bound's, or bound.
func advertised(adv string, bound net.Addr) string {
	_, port, _ := net.SplitHostPort(bound.String())
	if adv == "" {
		return bound.String()
	}
	host, p, err := net.SplitHostPort(adv)
	if err != nil || p == "0" || p == "" {
		return net.JoinHostPort(host, port)
	}
	return adv
}

// GossipAddr is the gossip address this node advertises.
func (c *Cluster) GossipAddr() string { return c.gossipAdv }

// LinkAddr is the link address this node advertises.
func (c *Cluster) LinkAddr() string { return c.linkAdv }

// Name is this node's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// ErrClosed is returned by Attach after Shutdown.
var ErrClosed = errors.New("cluster: closed")

// Attach connects a tenant's broker to the cluster: its route changes go
// to every peer, its messages to the peers with a matching route, and
// messages forwarded for the tenant are delivered to it. Call it before the
// broker serves. ackLocal makes the broker acknowledge a publish after the
// local delivery only, without waiting for the peers.
func (c *Cluster) Attach(name string, b *broker.Broker, ackLocal bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if _, ok := c.tenants[name]; ok {
		c.mu.Unlock()
		return fmt.Errorf("cluster: tenant %q already attached", name)
	}
	t := &tenantPeers{c: c, name: name, b: b, local: newLocalRoutes(), remote: c.remoteLocked(name), retained: newRetainStore()}
	t.ackLocal.Store(ackLocal)
	c.tenants[name] = t
	c.tenantGen.Add(1)
	c.mu.Unlock()
	if err := b.SetPeers(t); err != nil {
		c.mu.Lock()
		delete(c.tenants, name)
		c.tenantGen.Add(1)
		c.mu.Unlock()
		return fmt.Errorf("cluster: tenant %q: %w", name, err)
	}
	return nil
}

// SetAckLocal changes a tenant's acknowledgement mode (see Attach).
func (c *Cluster) SetAckLocal(name string, ackLocal bool) {
	if t := c.tenant(name); t != nil {
		t.ackLocal.Store(ackLocal)
	}
}

// Detach disconnects a tenant (removed from this node): every peer drops
// its routes here, and forwards for it are no longer delivered.
func (c *Cluster) Detach(name string) {
	c.mu.Lock()
	t := c.tenants[name]
	delete(c.tenants, name)
	c.tenantGen.Add(1)
	c.mu.Unlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	t.detached = true
	v := c.nextVersion()
	t.local = newLocalRoutes()
	t.local.version = v
	fr := frame(frameDropTenant, func(b []byte) []byte { return appendUint(appendString(b, name), v) })
	for _, l := range *c.linkList.Load() {
		l.queueRoute(name, v, fr)
	}
	for _, w := range t.waiters {
		close(w.ch)
	}
	t.waiters = nil
	t.mu.Unlock()
}

// nextVersion returns the version of a new change of this node's routes.
func (c *Cluster) nextVersion() uint64 { return c.versions.Add(1) }

// tenant returns an attached tenant, nil if none.
func (c *Cluster) tenant(name string) *tenantPeers {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tenants[name]
}

// tenantList returns the attached tenants.
func (c *Cluster) tenantList() []*tenantPeers {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*tenantPeers, 0, len(c.tenants))
	for _, t := range c.tenants {
		out = append(out, t)
	}
	return out
}

// remoteFor returns the peers' routes of a tenant.
func (c *Cluster) remoteFor(tenant string) *remoteRoutes {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteLocked(tenant)
}

func (c *Cluster) remoteLocked(tenant string) *remoteRoutes {
	r := c.remote[tenant]
	if r == nil {
		r = newRemoteRoutes()
		c.remote[tenant] = r
	}
	return r
}

// link returns the link to a live peer, nil if none.
func (c *Cluster) link(peer string) *link {
	for _, l := range *c.linkList.Load() {
		if l.peer == peer {
			return l
		}
	}
	return nil
}

// setLinksLocked publishes c.links as linkList; c.mu held.
func (c *Cluster) setLinksLocked() {
	list := make([]*link, 0, len(c.links))
	for _, l := range c.links {
		list = append(list, l)
	}
	c.linkList.Store(&list)
}

// Shutdown leaves the cluster (telling the others, within the timeout) and
// closes every link.
func (c *Cluster) Shutdown(timeout time.Duration) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	if err := c.ml.Leave(timeout); err != nil {
		errs = append(errs, fmt.Errorf("cluster: leave: %w", err))
	}
	close(c.done)
	if err := c.ml.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: gossip shutdown: %w", err))
	}
	c.mlLog.stop()
	_ = c.ln.Close()
	c.mu.Lock()
	links := c.links
	c.links = map[string]*link{}
	c.setLinksLocked()
	in := c.inbound
	c.inbound = map[string]*inbound{}
	c.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	for _, i := range in {
		i.close()
	}
	c.events.close()
	c.wills.stop()
	c.wg.Wait()
	return errors.Join(errs...)
}

// tickLoop expires what waits too long: SUBACKs waiting for route
// acknowledgements and PUBACKs waiting for forwards.
func (c *Cluster) tickLoop() {
	defer c.wg.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			for _, tp := range c.tenantList() {
				tp.expireWaiters(now)
				tp.retained.expire(now, c.cfg.RetainTombstoneTTL)
			}
			for _, l := range *c.linkList.Load() {
				l.expireForwards(now)
			}
		}
	}
}
