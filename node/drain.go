package node

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

// Draining a node (jmqx cluster drain): the admin API records the drain
// in the node's member record (meta.SetDrain); the node sees it in its
// record (reconcile calls checkDrain) and drains:
//
//  1. every tenant, before it serves if the node is starting, refuses new
//     connections and ends its clients (tenant.Host.Drain): MQTT 5
//     clients get 0x9C Use another server with a Server Reference naming
//     the same listener of the tenant on a live member that is not
//     draining (serverRef), 3.x clients are closed;
//  2. it hands Raft leadership over if it leads (and again whenever it is
//     elected while drained; the admin API moves it before recording
//     the drain of the leader);
//  3. it hands its sessions over to the other members (cluster.HandOff),
//     unless the data plane is off;
//  4. it waits until the peers have acknowledged every forward
//     (cluster.Flush);
//  5. once it holds no connection (and, with a session hand-over, no
//     session), it reports itself drained through the leader.

// Drain pacing.
const (
	// drainPoll is how often a draining node checks whether it is empty,
	// ends clients that raced in, and keeps leadership away.
	drainPoll = 100 * time.Millisecond
	// drainRetry is how long a failed step waits before it is retried.
	drainRetry = time.Second
	// drainStepTimeout bounds one attempt of a step that talks to peers.
	drainStepTimeout = 30 * time.Second
)

// checkDrain starts draining, once, when st records this node as
// draining or drained: its tenants, and those it starts later, refuse
// clients from now on; the rest goes on in the background.
func (n *Node) checkDrain(st meta.State) {
	if st.Members[n.id].Drain == meta.DrainNone || !n.drainStarted.CompareAndSwap(false, true) {
		return
	}
	ended := n.host.Drain(n.serverRef)
	n.log.Info("draining this node: refusing new connections and sending clients to the other members", zap.Int("clients", ended))
	n.drainWG.Add(1)
	go func() {
		defer n.drainWG.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-n.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		n.drain(ctx)
	}()
}

// drain takes this node out of service (see the steps above) and keeps it
// out until ctx ends.
func (n *Node) drain(ctx context.Context) {
	n.keepLeadershipAway(ctx)
	var handOff func(ctx context.Context) // nil: sessions stay
	if n.cluster != nil {
		handOff = func(ctx context.Context) {
			n.retry(ctx, "hand the sessions over", n.cluster.HandOff)
		}
		handOff(ctx)
	} else {
		n.log.Warn("draining: the data plane is off, so sessions cannot move to the other members; offline sessions stay on this node")
	}
	if n.cluster != nil {
		n.retry(ctx, "flush the forwards to the peers", n.cluster.Flush)
	}
	if !n.waitEmpty(ctx, handOff) {
		return
	}
	if n.store.State().Members[n.id].Drain != meta.DrainDrained {
		n.retry(ctx, "report this node drained", func(ctx context.Context) error {
			_, err := n.self.Drain(ctx, n.id, admin.DrainDrained)
			return err
		})
		if ctx.Err() != nil {
			return
		}
		n.log.Info("drained: this node holds no client; remove it with jmqx cluster remove", zap.String("node", n.id))
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.keepLeadershipAway(ctx)
		}
	}
}

// retry runs step, with a deadline per attempt, until it succeeds or ctx
// ends.
func (n *Node) retry(ctx context.Context, what string, step func(ctx context.Context) error) {
	for {
		sctx, cancel := context.WithTimeout(ctx, drainStepTimeout)
		err := step(sctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		n.log.Warn("draining: could not "+what+"; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(drainRetry):
		}
	}
}

// waitEmpty waits until no tenant holds a connection and, when sessions
// are handed over (handOff not nil), no session: it ends the clients that
// connected while the drain began, and hands over again, at most every
// drainRetry, the sessions still held. It returns false if ctx ended
// first.
func (n *Node) waitEmpty(ctx context.Context, handOff func(ctx context.Context)) bool {
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	last := time.Now()
	for {
		conns, held := 0, 0
		for _, st := range n.host.List() {
			conns += int(st.Stats.ClientsConnected)
			held += st.Stats.Sessions
		}
		if conns == 0 && (handOff == nil || held == 0) {
			return true
		}
		if conns > 0 {
			n.host.Drain(n.serverRef)
		} else if time.Since(last) >= drainRetry {
			n.log.Info("draining: sessions still held here; handing them over again", zap.Int("sessions", held))
			handOff(ctx)
			if n.cluster != nil {
				n.retry(ctx, "flush the forwards to the peers", n.cluster.Flush)
			}
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// keepLeadershipAway hands leadership over if this node leads.
func (n *Node) keepLeadershipAway(ctx context.Context) {
	if !n.store.IsLeader() {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, drainStepTimeout)
	defer cancel()
	to, err := n.store.TransferLeadership(tctx)
	if errors.Is(err, meta.ErrSoleVoter) {
		return // nobody to hand it to: backend.Drain refuses to drain a sole voter
	}
	if err != nil {
		n.log.Warn("draining: could not hand leadership over; retrying", zap.Error(err))
		return
	}
	n.log.Info("draining: leadership handed over", zap.String("leader", to))
}

// serverRef is the Server Reference for a client of a drained tenant: the
// address of the same listener kind (the one the client connected to) of
// the tenant on a live member that is not draining, chosen by hashing the
// client ID so that clients spread over the members; "" when there is
// none.
func (n *Node) serverRef(tenantName string, ci *broker.ClientInfo) string {
	kind := n.listenerOf(tenantName, ci.LocalAddr)
	if kind == "" {
		return ""
	}
	st := n.store.State()
	alive := map[string]bool{}
	if n.cluster != nil {
		for _, m := range n.cluster.Members() {
			alive[m.Name] = m.Gossip == "alive"
		}
	}
	var addrs []string
	for _, m := range st.MemberList() {
		if m.ID == n.id || m.Drain != meta.DrainNone || (n.cluster != nil && !alive[m.ID]) {
			continue
		}
		if a := st.BoundAddrs(tenantName, m.ID)[string(kind)]; a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return ""
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(ci.ClientID))
	return addrs[h.Sum32()%uint32(len(addrs))]
}

// listenerOf is the kind of the tenant's listener on this node whose port
// is local's, "" when none is.
func (n *Node) listenerOf(tenantName string, local net.Addr) tenant.ListenerKind {
	if local == nil {
		return ""
	}
	_, port, err := net.SplitHostPort(local.String())
	if err != nil {
		return ""
	}
	st, ok := n.host.Get(tenantName)
	if !ok {
		return ""
	}
	for kind, addr := range st.Listeners {
		if _, p, err := net.SplitHostPort(addr); err == nil && p == port {
			return kind
		}
	}
	return ""
}

// withDrain returns m with its drain state set to d.
func withDrain(m meta.Member, d string) meta.Member {
	m.Drain = d
	return m
}

// Drain records member id's drain state (the leader runs it; see
// admin.DrainBackend). When id is this node and it leads, leadership
// moves first and the leader after it records the state.
func (b *backend) Drain(ctx context.Context, id, state string) (admin.DrainView, error) {
	n := b.n
	m, ok := n.store.State().Members[id]
	if !ok {
		return admin.DrainView{}, fmt.Errorf("member %q: %w", id, admin.ErrNotFound)
	}
	switch {
	case state == meta.DrainDrained && m.Drain == meta.DrainNone:
		return admin.DrainView{}, fmt.Errorf("member %q is not draining: %w", id, admin.ErrInvalid)
	case state == meta.DrainDraining && m.Drain != meta.DrainNone, state == m.Drain:
		return admin.DrainView{ID: id, Drain: m.Drain}, nil // already under way
	}
	if id == n.id && n.store.IsLeader() {
		to, err := n.store.TransferLeadership(ctx)
		if errors.Is(err, meta.ErrSoleVoter) {
			return admin.DrainView{}, fmt.Errorf("member %q is the only voter: no other node can lead, nor take its clients: %w",
				id, admin.ErrInvalid)
		}
		if err != nil {
			return admin.DrainView{}, fmt.Errorf("move leadership off %s before draining it: %w", id, err)
		}
		n.log.Info("leadership moved before draining this node", zap.String("leader", to))
		v, err := n.self.Drain(ctx, id, state) // reaches the new leader
		if err != nil {
			return admin.DrainView{}, err
		}
		v.LeadershipMovedTo = to
		return v, nil
	}
	if err := b.apply(ctx, meta.CmdSetDrain, meta.SetDrain{ID: id, State: state}); err != nil {
		return admin.DrainView{}, err
	}
	return admin.DrainView{ID: id, Drain: state}, nil
}

// DrainState returns member id's drain state as recorded.
func (b *backend) DrainState(id string) string {
	return b.n.store.State().Members[id].Drain
}

var _ admin.DrainBackend = (*backend)(nil)
