package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/cluster"
	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

// backend is the node as the admin API sees it.
type backend struct{ n *Node }

var (
	_ admin.Backend            = (*backend)(nil)
	_ admin.ConditionalBackend = (*backend)(nil)
)

// healthTimeout bounds the probe of another member's /healthz.
const healthTimeout = 500 * time.Millisecond

// joinVoterWait bounds how long a join waits for the leader to promote
// the joiner, which it does once the joiner has caught up.
const joinVoterWait = 5 * time.Second

func (b *backend) NodeID() string { return b.n.id }

func (b *backend) Tenants() []admin.TenantView {
	st := b.n.store.State()
	names := st.TenantNames()
	out := make([]admin.TenantView, 0, len(names))
	for _, name := range names {
		out = append(out, view(st, name))
	}
	return out
}

func (b *backend) Tenant(name string) (admin.TenantView, bool) {
	st := b.n.store.State()
	if _, ok := st.Tenants[name]; !ok {
		return admin.TenantView{}, false
	}
	v := view(st, name)
	if err, failed := b.n.host.Failed()[name]; failed {
		i := slices.IndexFunc(v.Nodes, func(n admin.NodeListeners) bool { return n.Node == b.n.id })
		if i < 0 {
			v.Nodes = append(v.Nodes, admin.NodeListeners{Node: b.n.id, Listeners: map[string]string{}})
			i = len(v.Nodes) - 1
		}
		v.Nodes[i].Error = err.Error()
	}
	return v, true
}

// view is a tenant with the addresses each node recorded, by node ID.
func view(st meta.State, name string) admin.TenantView {
	spec, _ := st.Tenant(name)
	v := admin.TenantView{Name: name, Spec: spec, Nodes: []admin.NodeListeners{}}
	nodes := make([]string, 0, len(st.Bound[name]))
	for id := range st.Bound[name] {
		nodes = append(nodes, id)
	}
	sort.Strings(nodes)
	for _, id := range nodes {
		v.Nodes = append(v.Nodes, admin.NodeListeners{Node: id, Listeners: st.BoundAddrs(name, id)})
	}
	return v
}

func (b *backend) Members() []admin.MemberView {
	st := b.n.store.State()
	servers, _ := b.n.store.Servers()
	seen := make(map[string]bool)
	var out []admin.MemberView
	for _, s := range servers {
		m := st.Members[s.ID]
		raftAddr := s.Addr
		out = append(out, admin.MemberView{ID: s.ID, Role: s.Role, RaftAddr: raftAddr, AdminAddr: m.AdminAddr,
			GossipAddr: m.GossipAddr, ClusterAddr: m.ClusterAddr, Voter: s.Voter, Drain: m.Drain})
		seen[s.ID] = true
	}
	for _, m := range st.MemberList() { // recorded, but no longer in the Raft configuration
		if !seen[m.ID] {
			out = append(out, admin.MemberView{ID: m.ID, Role: "removed", RaftAddr: m.RaftAddr, AdminAddr: m.AdminAddr,
				GossipAddr: m.GossipAddr, ClusterAddr: m.ClusterAddr, Drain: m.Drain})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	gossip := map[string]cluster.Member{}
	if b.n.cluster != nil {
		for _, m := range b.n.cluster.Members() {
			gossip[m.Name] = m
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		b.dataPlane(&out[i], gossip)
		if out[i].ID == b.n.id {
			out[i].Healthy = true
			continue
		}
		if out[i].AdminAddr == "" {
			continue
		}
		wg.Add(1)
		go func(m *admin.MemberView) {
			defer wg.Done()
			m.Healthy = b.probe(m.AdminAddr)
		}(&out[i])
	}
	wg.Wait()
	return out
}

// dataPlane fills m's Gossip and Link as this node's data plane sees
// them: "off" when it is off; "" when gossip has not seen the member.
func (b *backend) dataPlane(m *admin.MemberView, seen map[string]cluster.Member) {
	if b.n.cluster == nil {
		m.Gossip, m.Link = "off", "off"
		return
	}
	if cm, ok := seen[m.ID]; ok {
		m.Gossip, m.Link = cm.Gossip, cm.Link
	}
}

// probe reports whether the admin API at addr answers /healthz.
func (b *backend) probe(addr string) bool {
	c, err := b.n.adminClient(addr, "")
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
	defer cancel()
	return c.Health(ctx) == nil
}

func (b *backend) IsLeader() bool { return b.n.store.IsLeader() }

func (b *backend) LeaderAdminAddr() string {
	id, _ := b.n.store.Leader()
	if id == "" {
		return ""
	}
	return b.n.store.State().Members[id].AdminAddr
}

func (b *backend) PutTenant(ctx context.Context, spec tenant.Spec, create bool) error {
	b.n.portsMu.Lock() // the port check and the write it admits are one step
	defer b.n.portsMu.Unlock()
	if err := b.checkPorts(spec); err != nil {
		return err
	}
	return b.apply(ctx, meta.CmdPutTenant, meta.PutTenant{Spec: spec, IfAbsent: create})
}

// PutTenantIf stores spec if the tenant is at revision, decided in the
// FSM (see applyIf).
func (b *backend) PutTenantIf(ctx context.Context, spec tenant.Spec, revision string) error {
	b.n.portsMu.Lock()
	defer b.n.portsMu.Unlock()
	if err := b.checkPorts(spec); err != nil {
		return err
	}
	return b.applyIf(ctx, spec.Name, revision, func(rev uint64) (meta.CommandType, any) {
		return meta.CmdPutTenant, meta.PutTenant{Spec: spec, IfRevision: rev}
	})
}

// checkPorts refuses (409) a spec whose fixed ports another tenant
// configures or this node uses itself, or whose auto listeners the port
// range cannot hold (tenant.HostConfig.CheckPorts), against the state the
// leader has applied. Other nodes check what they serve when they bind.
func (b *backend) checkPorts(spec tenant.Spec) error {
	st := b.n.store.State()
	others := make([]tenant.Spec, 0, len(st.Tenants))
	for _, name := range st.TenantNames() {
		if s, ok := st.Tenant(name); ok {
			others = append(others, s)
		}
	}
	err := b.n.cfg.Host.CheckPorts(spec, others, b.n.reservedPorts())
	if errors.Is(err, tenant.ErrPortTaken) || errors.Is(err, tenant.ErrAutoRangeFull) {
		return conflict{err}
	}
	return err
}

// conflict is a write refused because it conflicts with the state: the
// admin API's 409 (admin.ErrExists), with err's own message.
type conflict struct{ err error }

func (c conflict) Error() string        { return c.err.Error() }
func (c conflict) Unwrap() error        { return c.err }
func (c conflict) Is(target error) bool { return target == admin.ErrExists }

// PutACLIf replaces a tenant's ACL if it is at revision, decided in the
// FSM (see applyIf).
func (b *backend) PutACLIf(ctx context.Context, tenantName string, acl tenant.ACL, revision string) error {
	return b.applyIf(ctx, tenantName, revision, func(rev uint64) (meta.CommandType, any) {
		return meta.CmdPutACL, meta.PutACL{Tenant: tenantName, ACL: acl, IfRevision: rev}
	})
}

// applyIf runs a compare-and-set on the tenant name. The API's revision is
// a digest of the spec; the control plane's is the Raft index of the
// tenant's last write. It finds the state in which the tenant has the
// spec the caller read, and sends that state's revision down with the
// command (made by cmd), so that the FSM refuses it if any write, on this
// leader or a former one, committed since.
func (b *backend) applyIf(ctx context.Context, name, revision string, cmd func(rev uint64) (meta.CommandType, any)) error {
	rev := b.revisionOf(ctx, name, revision)
	if rev == 0 {
		return fmt.Errorf("tenant %q changed since it was read (revision %s) or no longer exists; read it again and retry: %w",
			name, revision, admin.ErrChanged)
	}
	t, payload := cmd(rev)
	err := b.n.store.Apply(ctx, t, payload)
	if errors.Is(err, meta.ErrChanged) {
		return fmt.Errorf("tenant %q changed since it was read (revision %s); read it again and retry: %w", name, revision, admin.ErrChanged)
	}
	return adminErr(err)
}

// revisionOf returns the control plane's revision of the tenant name if
// its spec has the API revision revision, else 0. A leader that has not
// applied the whole log yet (just elected) catches up once and looks
// again.
func (b *backend) revisionOf(ctx context.Context, name, revision string) uint64 {
	for caughtUp := false; ; caughtUp = true {
		st := b.n.store.State()
		if spec, ok := st.Tenants[name]; ok && admin.Revision(spec) == revision {
			return st.TenantRevision(name)
		}
		if caughtUp || !b.n.store.IsLeader() || b.n.store.Barrier(ctx) != nil {
			return 0
		}
	}
}

func (b *backend) DeleteTenant(ctx context.Context, name string) error {
	if _, ok := b.n.store.State().Tenants[name]; !ok {
		return fmt.Errorf("tenant %q: %w", name, admin.ErrNotFound)
	}
	return b.apply(ctx, meta.CmdDeleteTenant, meta.DeleteTenant{Name: name})
}

func (b *backend) PutUser(ctx context.Context, tenantName string, u tenant.User) error {
	return b.apply(ctx, meta.CmdPutUser, meta.PutUser{Tenant: tenantName, User: u})
}

func (b *backend) RemoveUser(ctx context.Context, tenantName, user string) error {
	return b.apply(ctx, meta.CmdRemoveUser, meta.RemoveUser{Tenant: tenantName, Name: user})
}

func (b *backend) PutACL(ctx context.Context, tenantName string, acl tenant.ACL) error {
	return b.apply(ctx, meta.CmdPutACL, meta.PutACL{Tenant: tenantName, ACL: acl})
}

func (b *backend) RecordBound(ctx context.Context, tenantName, node string, listeners map[string]string) error {
	return b.apply(ctx, meta.CmdRecordBound, meta.RecordBound{Tenant: tenantName, Node: node, Listeners: listeners})
}

// Join admits m once its admin API answers, as a non-voter, and waits
// (joinVoterWait at most) for the leader to promote it, which it does once
// m answers at its Raft address and has caught up. A node that never
// answers there never votes: it cannot cost the cluster its quorum, and
// the leader removes it after meta's NonvoterTimeout.
func (b *backend) Join(ctx context.Context, m admin.MemberView) error {
	if m.ID == "" || m.RaftAddr == "" || m.AdminAddr == "" {
		return fmt.Errorf("join: id, raft_addr and admin_addr are required: %w", admin.ErrInvalid)
	}
	if hasWildcardHost(m.AdminAddr) {
		return fmt.Errorf("join: node %q advertises its admin API at %s, which names every machine: "+
			"start it with --admin-advertise HOST:PORT or --advertise-host HOST: %w", m.ID, m.AdminAddr, admin.ErrInvalid)
	}
	if hasWildcardHost(b.n.adminAdv) && m.ID != b.n.id {
		return fmt.Errorf("join: the leader %q advertises its admin API at %s, which the other members cannot reach: "+
			"restart it with --admin-advertise HOST:PORT or --advertise-host HOST before nodes join: %w", b.n.id, b.n.adminAdv, admin.ErrInvalid)
	}
	if err := checkDataPlaneAddrs(m); err != nil {
		return err
	}
	if !b.probe(m.AdminAddr) {
		return fmt.Errorf("join: node %q: its admin API at %s does not answer from this node: %w", m.ID, m.AdminAddr, admin.ErrInvalid)
	}
	err := b.n.store.Join(ctx, meta.Member{ID: m.ID, RaftAddr: m.RaftAddr, AdminAddr: m.AdminAddr,
		GossipAddr: m.GossipAddr, ClusterAddr: m.ClusterAddr})
	if err != nil {
		return adminErr(err)
	}
	wctx, cancel := context.WithTimeout(ctx, joinVoterWait)
	defer cancel()
	if err := b.n.store.WaitVoter(wctx, m.ID); err != nil {
		return fmt.Errorf("node %q joined as a non-voter but has not caught up through its raft address %s within %s: "+
			"this leader must reach it there (check its --raft-advertise); it becomes a voter once it has caught up, "+
			"and is removed if it never answers: %v", m.ID, m.RaftAddr, joinVoterWait, err)
	}
	return nil
}

// checkDataPlaneAddrs refuses a join whose data-plane addresses the other
// members could not dial: both are set (data plane on) or neither is
// (off, or a jmqx without one), and each is a specific IP address with a
// port.
func checkDataPlaneAddrs(m admin.MemberView) error {
	if (m.GossipAddr == "") != (m.ClusterAddr == "") {
		return fmt.Errorf("join: node %q: gossip_addr %q and cluster_addr %q: give both (data plane on) or neither (off): %w",
			m.ID, m.GossipAddr, m.ClusterAddr, admin.ErrInvalid)
	}
	for _, a := range []struct{ name, addr string }{{"gossip_addr", m.GossipAddr}, {"cluster_addr", m.ClusterAddr}} {
		if a.addr == "" {
			continue
		}
		host, err := splitPort(a.addr)
		if ip, perr := netip.ParseAddr(host); err == nil && (perr != nil || ip.IsUnspecified()) {
			err = errors.New("want a specific IP address")
		}
		if err != nil {
			return fmt.Errorf("join: node %q: %s %q: %v: %w", m.ID, a.name, a.addr, err, admin.ErrInvalid)
		}
	}
	return nil
}

// joinView is the join request that records m.
func joinView(m meta.Member) admin.MemberView {
	return admin.MemberView{ID: m.ID, RaftAddr: m.RaftAddr, AdminAddr: m.AdminAddr,
		GossipAddr: m.GossipAddr, ClusterAddr: m.ClusterAddr}
}

func (b *backend) RemoveMember(ctx context.Context, id string) error {
	st := b.n.store.State()
	servers, _ := b.n.store.Servers()
	known := false
	for _, s := range servers {
		known = known || s.ID == id
	}
	if _, ok := st.Members[id]; !ok && !known {
		return fmt.Errorf("member %q: %w", id, admin.ErrNotFound)
	}
	if id == b.n.id {
		return fmt.Errorf("member %q is the leader answering this request; remove it through another node after it steps down: %w", id, admin.ErrInvalid)
	}
	if err := b.n.store.RemoveServer(ctx, id); err != nil {
		return adminErr(err)
	}
	return b.apply(ctx, meta.CmdRemoveMember, meta.RemoveMember{ID: id})
}

func (b *backend) LocalStatus(tenantName string) (admin.NodeStatus, bool) {
	st, ok := b.n.host.Get(tenantName)
	if !ok {
		return admin.NodeStatus{}, false
	}
	s := st.Stats
	in, out := b.n.rates.get(tenantName)
	ns := admin.NodeStatus{
		Node: b.n.id, Listeners: listenerAddrs(st), Connections: s.ClientsConnected, Sessions: s.Sessions,
		Subscriptions: s.Subscriptions, Retained: s.Retained, MessagesIn: s.MessagesReceived, MessagesOut: s.MessagesSent,
		BytesIn: s.BytesReceived, BytesOut: s.BytesSent, MessagesInRate: in, MessagesOutRate: out,
		Dropped: s.MessagesDropped, Refusals: map[string]int64{}, Error: st.Error,
	}
	for rc, n := range s.Refusals {
		ns.Refusals[fmt.Sprintf("0x%02X %s", byte(rc), rc)] = n
	}
	if b.n.cluster != nil {
		if cs, ok := b.n.cluster.Stats(tenantName); ok {
			ns.RemoteRoutes = cs.RemoteRoutes
			ns.Peers = make(map[string]admin.PeerForwarding, len(cs.Peers))
			for peer, p := range cs.Peers {
				ns.Peers[peer] = admin.PeerForwarding(p)
			}
		}
	}
	return ns, true
}

func (b *backend) Ready() error {
	if id, _ := b.n.store.Leader(); id == "" {
		return errors.New("no leader elected yet")
	}
	if !b.n.reconciled.Load() {
		return errors.New("tenants not applied yet")
	}
	if d := b.n.store.State().Members[b.n.id].Drain; d != meta.DrainNone {
		return fmt.Errorf("this node is %s (jmqx cluster drain): it takes no client", d)
	}
	return nil
}

// apply runs a command on the leader and maps the control plane's errors
// to the admin API's.
func (b *backend) apply(ctx context.Context, t meta.CommandType, payload any) error {
	return adminErr(b.n.store.Apply(ctx, t, payload))
}

func adminErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, meta.ErrNotFound):
		return fmt.Errorf("%w: %w", admin.ErrNotFound, err)
	case errors.Is(err, meta.ErrExists):
		return fmt.Errorf("%w: %w", admin.ErrExists, err)
	case errors.Is(err, meta.ErrInvalid):
		return fmt.Errorf("%w: %w", admin.ErrInvalid, err)
	case errors.Is(err, meta.ErrNotLeader):
		return fmt.Errorf("%w: %w", admin.ErrNotLeader, err)
	case errors.Is(err, meta.ErrChanged):
		return fmt.Errorf("%w: %w", admin.ErrChanged, err)
	}
	return err
}

// rateBook keeps per-tenant message rates, sampled every second.
type rateBook struct {
	mu   sync.Mutex
	last map[string]rateSample
}

type rateSample struct {
	at            time.Time
	in, out       int64
	inRate, outRt float64
}

func (r *rateBook) sample(list []tenant.Status) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[string]rateSample, len(list))
	for _, st := range list {
		s := rateSample{at: now, in: st.Stats.MessagesReceived, out: st.Stats.MessagesSent}
		if prev, ok := r.last[st.Spec.Name]; ok {
			if dt := now.Sub(prev.at).Seconds(); dt > 0 {
				s.inRate = float64(s.in-prev.in) / dt
				s.outRt = float64(s.out-prev.out) / dt
			}
		}
		next[st.Spec.Name] = s
	}
	r.last = next
}

func (r *rateBook) get(name string) (in, out float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.last[name]
	return s.inRate, s.outRt
}
