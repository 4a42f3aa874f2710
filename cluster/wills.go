package cluster

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
)

// Wills cluster-wide. Every will a session holds on this node is registered
// with every live peer (broker.WillRegistry, frameWill), and cleared when
// the session ends or the will is published or discarded (frameWillClear).
// A new link starts with frameWillReset and every current will, so a
// peer's copy is whole after it was away. When memberlist declares a node
// dead (or it leaves), the live member with the lowest name publishes the
// wills that node had registered, each once its delay (or the session's
// expiry, if sooner) has passed, unless a claim of its client id is seen
// meanwhile (the client connected somewhere) or the node comes back.

// willPlane is a node's copy of its peers' wills and the wills of dead
// peers waiting for their delay.
type willPlane struct {
	c        *Cluster
	mu       sync.Mutex
	byOrigin map[string]map[clientKey]registeredWill
	pending  map[clientKey]*pendingWill

	published atomic.Int64
}

// registeredWill is a peer's will and when this node learnt it.
type registeredWill struct {
	w  *broker.WillState
	at time.Time
}

// pendingWill is a will of a dead peer this node publishes after its delay.
type pendingWill struct {
	origin string
	at     time.Time // when it is published
	timer  *time.Timer
}

func newWillPlane(c *Cluster) *willPlane {
	return &willPlane{c: c, byOrigin: map[string]map[clientKey]registeredWill{}, pending: map[clientKey]*pendingWill{}}
}

// WillChanged implements broker.WillRegistry: the change goes to every
// live peer.
func (t *tenantPeers) WillChanged(clientID string, w *broker.WillState) {
	m := sessionMsg{typ: frameWillClear, tenant: t.name, client: clientID}
	if w != nil {
		m.typ, m.will = frameWill, w
	}
	fr := m.encode()
	for _, l := range *t.c.linkList.Load() {
		l.queueControl(fr)
	}
}

// sendWills queues, first on a new link, a reset and every will held here.
func (c *Cluster) sendWills(l *link) {
	l.queueControl((&sessionMsg{typ: frameWillReset}).encode())
	for _, t := range c.tenantList() {
		t.b.EachWill(func(clientID string, w *broker.WillState) {
			l.queueControl((&sessionMsg{typ: frameWill, tenant: t.name, client: clientID, will: w}).encode())
		})
	}
}

// apply records a peer's will frame.
func (wp *willPlane) apply(origin string, m *sessionMsg) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	reg := wp.byOrigin[origin]
	switch m.typ {
	case frameWillReset:
		delete(wp.byOrigin, origin)
	case frameWillClear:
		delete(reg, clientKey{m.tenant, m.client})
	case frameWill:
		if reg == nil {
			reg = map[clientKey]registeredWill{}
			wp.byOrigin[origin] = reg
		}
		reg[clientKey{m.tenant, m.client}] = registeredWill{m.will, time.Now()}
	}
}

// claimed cancels a pending will of a dead node's session: its client
// connected again.
func (wp *willPlane) claimed(key clientKey) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if p := wp.pending[key]; p != nil {
		p.timer.Stop()
		delete(wp.pending, key)
		wp.c.log.Info("will of a lost node's session not published: the client connected again",
			zap.String("tenant", key.tenant), zap.String("client", key.client), zap.String("origin", p.origin))
	}
	for _, reg := range wp.byOrigin {
		delete(reg, key) // a later takeover clears it anyway; a dead node's must not fire
	}
}

// originLost publishes, if this node is the lowest-named live member,
// the wills origin had registered, each after its delay; live are the
// other live members.
func (wp *willPlane) originLost(origin string, live []string) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	reg := wp.byOrigin[origin]
	delete(wp.byOrigin, origin)
	if len(reg) == 0 {
		return
	}
	self := wp.c.cfg.Name
	if i := slices.IndexFunc(live, func(n string) bool { return n < self }); i >= 0 {
		wp.c.log.Info("wills of a lost node left to a lower-named member", zap.String("origin", origin),
			zap.Int("wills", len(reg)), zap.String("publisher", slices.Min(live)))
		return
	}
	now := time.Now()
	for key, r := range reg {
		delay := time.Duration(min(r.w.Delay, r.w.Expiry)) * time.Second
		if !r.w.Connected { // counted from when it was registered
			delay -= now.Sub(r.at)
		}
		delay = max(delay, 0)
		if old := wp.pending[key]; old != nil {
			old.timer.Stop()
		}
		p := &pendingWill{origin: origin, at: now.Add(delay)}
		p.timer = time.AfterFunc(delay, func() { wp.fire(key, p, r.w) })
		wp.pending[key] = p
	}
	wp.c.log.Info("publishing the wills of a lost node after their delays", zap.String("origin", origin), zap.Int("wills", len(reg)))
}

// originBack cancels the pending wills of a node that is alive again: it
// still holds its sessions.
func (wp *willPlane) originBack(origin string) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	for key, p := range wp.pending {
		if p.origin == origin {
			p.timer.Stop()
			delete(wp.pending, key)
		}
	}
}

// fire publishes a lost node's will, unless it was cancelled meanwhile.
func (wp *willPlane) fire(key clientKey, p *pendingWill, w *broker.WillState) {
	wp.mu.Lock()
	if wp.pending[key] != p {
		wp.mu.Unlock()
		return
	}
	delete(wp.pending, key)
	wp.mu.Unlock()
	t := wp.c.tenant(key.tenant)
	if t == nil {
		return
	}
	wp.published.Add(1)
	wp.c.log.Info("publishing the will of a lost node's session", zap.String("tenant", key.tenant),
		zap.String("client", key.client), zap.String("origin", p.origin), zap.String("topic", w.Message.Topic))
	m := w.Message
	t.b.PublishWill(&m)
}

// stop cancels every pending will (shutdown).
func (wp *willPlane) stop() {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	for key, p := range wp.pending {
		p.timer.Stop()
		delete(wp.pending, key)
	}
}

// livePeers returns the names of the peers with a link.
func (c *Cluster) livePeers() []string {
	links := *c.linkList.Load()
	out := make([]string, 0, len(links))
	for _, l := range links {
		out = append(out, l.peer)
	}
	return out
}
