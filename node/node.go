package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/cluster"
	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

// Node is a running jmqx service node.
type Node struct {
	cfg   Config
	log   *zap.Logger
	id    string
	store *meta.Store
	host  *tenant.Host
	api   *admin.Server
	self  *admin.Client // this node's own API: writes reach the leader through it
	// adminAdv is the admin address in this node's member record, set
	// once the API is bound (see Config.AdminAdvertise).
	adminAdv string
	// gossipAdv and clusterAdv are the advertised data-plane addresses,
	// "" when the data plane is off; set by startLocked.
	gossipAdv, clusterAdv string
	// cluster is the data plane; nil when Config.DisableCluster.
	cluster *cluster.Cluster
	peers   peerIPs // who the data plane hears

	lock  *dirLock   // the data directory's, released by Shutdown
	data  *dataDir   // what Start found in the data directory
	local localState // the state served while no leader is known

	sweep storeSweep // the store files of tenants deleted meanwhile (stores.go)

	ports      portBook
	reconciled atomic.Bool
	dirty      atomic.Bool // a reconcile or a report of bound addresses failed: retry
	// reconcileFailures counts the reconciles the Host could not apply
	// in full (jmqx_reconcile_failures_total).
	reconcileFailures atomic.Int64
	// lastFailure is the last reconcile error logged (reconcile runs on
	// one goroutine at a time: Start's, then the loop's).
	lastFailure string
	rates       rateBook
	// portsMu makes a tenant write's port check and the write one step
	// on this node (the leader, where writes run).
	portsMu sync.Mutex

	// failed is closed, with failure set, when the control plane stops
	// applying the log (meta.Store.Stopped: this node runs an older jmqx
	// than the cluster); the process should shut the node down.
	failed     chan struct{}
	failure    error
	failedOnce sync.Once

	done     chan struct{}
	loopDone chan struct{}
	stopOnce sync.Once

	// drainStarted is set once this node starts draining (drain.go),
	// whose goroutine drainWG tracks.
	drainStarted atomic.Bool
	drainWG      sync.WaitGroup
}

// reportConcurrency bounds the bound-address reports in flight at once.
const reportConcurrency = 16

// reconcileRetry is how often a failed reconcile or report is retried, and
// how often message rates are sampled.
const reconcileRetry = time.Second

// Start opens the node's control plane, serves its admin API and its
// tenants, and joins or bootstraps the cluster. It returns once the node
// is a member: bootstrapped, restarted on its own state, or joined. It
// refuses a data directory that another process uses, or whose state is
// damaged or incomplete (see openDataDir), with an error of one line.
func Start(ctx context.Context, cfg Config, log *zap.Logger) (*Node, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("node: data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n, err := startLocked(ctx, cfg, log, lock)
	if err != nil {
		lock.release()
		return nil, err
	}
	return n, nil
}

// startLocked is Start with the data directory locked.
func startLocked(ctx context.Context, cfg Config, log *zap.Logger, lock *dirLock) (*Node, error) {
	data, err := openDataDir(cfg)
	if err != nil {
		return nil, err
	}
	id := data.id
	if cfg.adminAdvertiseHost() == "" && (len(cfg.Join) > 0 || len(data.disk.Servers) > 1) {
		return nil, multiNodeWildcardError(cfg.AdminAddr)
	}
	token := cfg.AdminToken
	if token == "" && !loopbackAddr(cfg.AdminAddr) {
		if token, err = admin.LoadOrCreateToken(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("node: admin token: %w", err)
		}
		log.Info("admin API token in the data directory", zap.String("file", filepath.Join(cfg.DataDir, admin.TokenFile)))
	}
	n := &Node{cfg: cfg, log: log.Named("node").With(zap.String("node", id)), id: id, lock: lock, data: data,
		done: make(chan struct{}), loopDone: make(chan struct{}), failed: make(chan struct{})}
	n.ports.load(filepath.Join(cfg.DataDir, portsFile), n.log)
	n.sweep.since = startIndex(cfg.DataDir, data.disk)
	n.store, err = openStore(meta.Config{
		NodeID: id, Dir: filepath.Join(cfg.DataDir, raftDir), BindAddr: cfg.RaftAddr, AdvertiseAddr: cfg.RaftAdvertise,
		Bootstrap: len(cfg.Join) == 0, TLS: cfg.RaftTLS, SnapshotThreshold: cfg.SnapshotThreshold,
		TrailingLogs: cfg.TrailingLogs, SnapshotInterval: cfg.SnapshotInterval,
	}, log)
	if err != nil {
		return nil, err
	}
	// A single voter need not wait out the heartbeat timeout (1-2 s).
	if _, err := n.store.ElectSoleVoter(); err != nil {
		n.log.Warn("could not start the election at once", zap.Error(err))
	}
	n.peers.n = n
	if err := n.startCluster(token); err != nil {
		return nil, errors.Join(err, n.store.Shutdown())
	}
	hostOpts := []tenant.Option{tenant.WithLogger(log), tenant.WithPortHints(n.portHint)}
	if n.cluster != nil {
		hostOpts = append(hostOpts, tenant.WithPeering(n.cluster))
	}
	if cfg.Hooks != nil {
		hostOpts = append(hostOpts, tenant.WithHooks(cfg.Hooks))
	}
	if n.host, err = tenant.NewHost(cfg.Host, hostOpts...); err != nil {
		return nil, errors.Join(err, n.stopCluster(), n.store.Shutdown())
	}
	// The API answers to the host it is advertised at, which the others
	// put in their Host headers.
	allowed := slices.Clone(cfg.AdminAllowedHosts)
	if h := cfg.adminAdvertiseHost(); h != "" && h != hostOf(cfg.AdminAddr) && !slices.Contains(allowed, h) {
		allowed = append(allowed, h)
	}
	metrics, err := newMetricsHandler(n.metricSources(), n.log)
	if err == nil {
		n.api, err = admin.New(admin.Config{Addr: cfg.AdminAddr, Token: token, TLS: cfg.AdminTLS, AllowedHosts: allowed},
			&backend{n: n}, admin.WithLogger(log), admin.WithMetrics(metrics))
	}
	if err == nil {
		err = n.api.Start()
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("node: admin API: %w", err), n.host.Close(ctx), n.stopCluster(), n.store.Shutdown())
	}
	n.adminAdv = cfg.adminAdvertiseAddr(n.api.Addr().String())
	if cfg.adminAdvertiseHost() == "" {
		n.log.Info("the admin API binds every interface and advertises that address, which only a single-node cluster can use; "+
			"set --admin-advertise or --advertise-host before other nodes join", zap.String("admin", n.adminAdv))
	}
	if n.self, err = n.adminClient(n.api.Addr().String(), token); err != nil {
		return nil, errors.Join(err, n.closeAll(ctx))
	}
	if err := n.enter(ctx); err != nil {
		close(n.loopDone)
		return nil, errors.Join(err, n.shutdown(context.WithoutCancel(ctx), false))
	}
	// What openDataDir read of the log is served or replayed by now.
	n.data.disk = meta.DiskState{}
	// A tenant this node cannot serve does not stop it: the Host serves
	// the others, reports that one (tenant status, tenant show) and the
	// loop retries it every second. The loop watches from before this
	// reconcile, so that no entry applied meanwhile goes unnoticed.
	changes, unwatch := n.store.Watch()
	if err := n.reconcile(); errors.Is(err, tenant.ErrHostClosed) {
		unwatch()
		close(n.loopDone)
		return nil, errors.Join(err, n.shutdown(context.WithoutCancel(ctx), false))
	}
	go n.loop(changes, unwatch)
	n.log.Info("node started", zap.String("admin", n.api.Addr().String()), zap.String("admin_advertise", n.adminAdv),
		zap.String("raft", n.store.RaftAddr()))
	return n, nil
}

// openStore opens the control plane, turning a panic of the storage
// libraries on a damaged file (which openDataDir should have caught) into
// an error.
func openStore(cfg meta.Config, log *zap.Logger) (s *meta.Store, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // a fault in the mapped raft.db, too
	defer func() {
		if r := recover(); r != nil {
			msg := strings.Join(strings.Fields(fmt.Sprint(r)), " ")
			s, err = nil, fmt.Errorf("node: cannot start: the Raft data in %s is damaged (%s): restore it from a backup, or remove the data folder to start a new node", cfg.Dir, msg)
		}
	}()
	s, err = meta.Open(cfg, meta.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("node: control plane: %w", err)
	}
	return s, nil
}

// enter bootstraps the cluster, joins it, or restarts on the local state.
func (n *Node) enter(ctx context.Context) error {
	if len(n.cfg.Join) > 0 {
		if err := n.join(ctx); err != nil {
			return err
		}
		return n.data.firstStartDone()
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !n.data.firstStart {
		// A restart: the Raft state knows the cluster. Let the log replay
		// before the first reconcile, so that tenants start once, from the
		// latest state; without a quorum, serve the local state.
		if err := n.store.WaitLeader(wctx); err != nil {
			n.serveLocal(err)
			return nil
		}
		if n.store.IsLeader() {
			_ = n.store.Barrier(wctx)
		} else if err := n.store.WaitApplied(wctx); err != nil { // e.g. a drain recorded meanwhile
			n.log.Warn("starting before the log has replayed", zap.Error(err))
		}
		return nil
	}
	// A bootstrap, or the end of one that a crash interrupted: the member
	// record and the default tenant are written if absent, then the first
	// start is done. Once it is, the default tenant is never created
	// again, so that one deleted stays deleted.
	if err := n.store.WaitLeader(wctx); err != nil {
		return fmt.Errorf("node: bootstrap: %w", err)
	}
	if n.store.IsLeader() { // else reconcile records it when this node leads
		if err := n.store.Apply(wctx, meta.CmdPutMember, meta.PutMember{Member: n.member()}); err != nil {
			return fmt.Errorf("node: bootstrap: record this member: %w", err)
		}
	}
	if d := n.cfg.DefaultTenant; d != nil {
		if _, ok := n.store.State().Tenants[d.Name]; !ok {
			if err := n.createIfAbsent(wctx, *d); err != nil {
				return fmt.Errorf("node: create the %q tenant: %w", d.Name, err)
			}
			n.log.Info("tenant created", zap.String("tenant", d.Name))
		}
	}
	return n.data.firstStartDone()
}

// createIfAbsent creates a tenant unless one of that name exists: on the
// leader directly, else through the admin API (forwarded to the leader;
// others may have joined before a crash interrupted the bootstrap).
func (n *Node) createIfAbsent(ctx context.Context, spec tenant.Spec) error {
	if n.store.IsLeader() {
		err := n.store.Apply(ctx, meta.CmdPutTenant, meta.PutTenant{Spec: spec, IfAbsent: true})
		if errors.Is(err, meta.ErrExists) {
			return nil
		}
		return err
	}
	_, err := n.self.CreateTenant(ctx, spec)
	if errors.Is(err, admin.ErrExists) {
		return nil
	}
	return err
}

// adminClient returns a client of the admin API at addr ("host:port"),
// over HTTPS when the node's admin API uses TLS.
func (n *Node) adminClient(addr, token string) (*admin.Client, error) {
	if n.cfg.AdminTLS == nil {
		return admin.NewClient(addr, token)
	}
	if !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	return admin.NewClient(addr, token, admin.WithTLSConfig(&tls.Config{RootCAs: n.cfg.AdminTLS.RootCAs, MinVersion: tls.VersionTLS12}))
}

// member is this node's member record: its advertised addresses.
func (n *Node) member() meta.Member {
	return meta.Member{ID: n.id, RaftAddr: n.store.RaftAddr(), AdminAddr: n.adminAdv,
		GossipAddr: n.gossipAdv, ClusterAddr: n.clusterAdv}
}

// join asks the members in cfg.Join, in turn and again until JoinTimeout,
// to add this node as a voter. Joining again is harmless. A node with a
// Raft configuration (a member restarting) first checks that the node it
// asks belongs to its cluster (sameCluster), and gives up at once if not.
func (n *Node) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	view := joinView(n.member())
	var last error
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		for _, addr := range n.cfg.Join {
			c, err := n.adminClient(addr, n.self.Token())
			if err == nil && len(n.data.disk.Servers) > 0 {
				err = n.sameCluster(ctx, c, addr)
				if errors.Is(err, errOtherCluster) {
					return err
				}
			}
			if err == nil {
				rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
				err = c.Join(rctx, view)
				rcancel()
			}
			if err == nil {
				n.log.Info("joined the cluster", zap.String("via", addr))
				return nil
			}
			last = err
			n.log.Warn("join failed; retrying", zap.String("via", addr), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: join through %s: %w", strings.Join(n.cfg.Join, ","), last)
		case <-time.After(delay):
		}
	}
}

// errOtherCluster: the node asked to join belongs to another cluster.
var errOtherCluster = errors.New("node: join refused: another cluster")

// sameCluster checks that the member at addr belongs to the cluster of
// this node's saved Raft configuration: its members and that
// configuration share a server other than this node, by ID and Raft
// address. It wraps errOtherCluster when they do not.
func (n *Node) sameCluster(ctx context.Context, c *admin.Client, addr string) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	members, err := c.Members(rctx)
	if err != nil {
		return err
	}
	var theirs []string
	for _, m := range members {
		for _, s := range n.data.disk.Servers {
			if s.ID != n.id && s.ID == m.ID && s.Addr == m.RaftAddr {
				return nil
			}
		}
		theirs = append(theirs, m.ID+" at "+m.RaftAddr)
	}
	return fmt.Errorf("%w: %s belongs to a cluster (members: %s) that is not the one the data folder %s holds%s; "+
		"remove the data folder to join as a new node", errOtherCluster, addr, strings.Join(theirs, ", "), n.cfg.DataDir, n.data.knownServers())
}

// loop reconciles the tenants to the control plane's state on every
// change signalled on changes, and retries what failed; it calls unwatch
// when it returns.
func (n *Node) loop(changes <-chan struct{}, unwatch func()) {
	defer close(n.loopDone)
	defer unwatch()
	tick := time.NewTicker(reconcileRetry)
	defer tick.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-n.store.Stopped():
			err := n.store.Err()
			n.log.Error("the control plane stopped applying the log; this node must be upgraded", zap.Error(err))
			n.fail(err)
			return
		case <-changes:
			_ = n.reconcile()
			if n.cluster != nil {
				n.cluster.Rejoin() // a member (or its gossip address) may be new
			}
		case <-tick.C:
			n.rates.sample(n.host.List())
			if n.dirty.Load() {
				_ = n.reconcile()
			}
		}
	}
}

// reconcile makes the Host serve the replicated tenants (or the local ones,
// see served), then reports the
// addresses it bound. It returns what the Host could not apply (it is
// retried every second).
func (n *Node) reconcile() error {
	st := n.served()
	names := st.TenantNames()
	specs := make([]tenant.Spec, 0, len(names))
	for _, name := range names {
		spec, _ := st.Tenant(name)
		specs = append(specs, spec)
	}
	dirty := false
	n.checkDrain(st) // before tenants start: a drained node's never serve
	err := n.host.Reconcile(specs)
	if err != nil {
		n.reconcileFailures.Add(1)
		// Retried every second: say it once per distinct failure.
		if msg := err.Error(); msg != n.lastFailure {
			n.lastFailure = msg
			n.log.Warn("tenants not fully applied; retrying every second", zap.Error(err))
		}
		dirty = true
	} else if n.lastFailure != "" {
		n.lastFailure = ""
		n.log.Info("tenants applied after earlier failures")
	}
	n.sweepStores(st)
	n.reconciled.Store(true)
	n.ports.save(n.host.List(), func(name string) bool { _, ok := st.Tenants[name]; return ok })
	if !n.report(st) {
		dirty = true
	}
	if !n.recordMember(st) {
		dirty = true
	}
	n.dirty.Store(dirty)
	return err
}

// recordMember makes this node's member record hold its current
// addresses (a restart may have changed them): the leader writes it, a
// follower asks the leader by joining again, which updates the record of
// a member. A follower without a record (being removed, or not joined
// yet) asks nothing. It returns false when the record could not be
// written.
func (n *Node) recordMember(st meta.State) bool {
	m, ok := st.Members[n.id]
	want := n.member()
	if ok && m == withDrain(want, m.Drain) { // the drain state is not this record's to change

		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n.store.IsLeader() {
		return n.store.Apply(ctx, meta.CmdPutMember, meta.PutMember{Member: want}) == nil
	}
	if !ok {
		// Not recorded yet (its entry may still be on its way), or
		// removed: ask nothing.
		return true
	}
	if m.RaftAddr != want.RaftAddr { // a new Raft address is not this record's to change
		return true
	}
	if id, _ := n.store.Leader(); id == "" {
		return false // retried once a leader is known
	}
	err := n.self.Join(ctx, joinView(want))
	if err != nil {
		n.log.Debug("member record not updated yet", zap.String("admin", want.AdminAddr), zap.Error(err))
		return false
	}
	n.log.Info("member record updated", zap.String("admin", want.AdminAddr), zap.String("was", m.AdminAddr))
	return true
}

// report records, through the leader, the addresses this node bound for
// each tenant whose record differs; false when one could not be recorded.
func (n *Node) report(st meta.State) bool {
	var stale []tenant.Status
	for _, ts := range n.host.List() {
		if !maps.Equal(st.BoundAddrs(ts.Spec.Name, n.id), listenerAddrs(ts)) {
			stale = append(stale, ts)
		}
	}
	// Concurrent reports share the leader's log writes (Raft batches
	// them), so a node that binds many tenants at once reports quickly.
	var failed atomic.Bool
	var wg sync.WaitGroup
	sem := make(chan struct{}, reportConcurrency)
	for _, ts := range stale {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := n.self.RecordBound(ctx, ts.Spec.Name, n.id, listenerAddrs(ts))
			if err != nil && !errors.Is(err, admin.ErrNotFound) {
				n.log.Debug("bound addresses not recorded yet", zap.String("tenant", ts.Spec.Name), zap.Error(err))
				failed.Store(true)
			}
		}()
	}
	wg.Wait()
	return !failed.Load()
}

// portHint is the port this node had bound for a tenant's listener: as
// saved in the data directory, else as the control plane recorded it.
func (n *Node) portHint(tenantName string, listener tenant.ListenerKind) int {
	if p := n.ports.get(tenantName, string(listener)); p != 0 {
		return p
	}
	addr := n.store.State().BoundAddrs(tenantName, n.id)[string(listener)]
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port, _ := strconv.Atoi(p)
		return port
	}
	return 0
}

// ID returns the node's cluster identifier.
func (n *Node) ID() string { return n.id }

// AdminAddr returns the address the admin API is bound to.
func (n *Node) AdminAddr() net.Addr { return n.api.Addr() }

// RaftAddr returns the node's advertised Raft address.
func (n *Node) RaftAddr() string { return n.store.RaftAddr() }

// Host returns the node's tenant Host.
func (n *Node) Host() *tenant.Host { return n.host }

// Store returns the node's control-plane store.
func (n *Node) Store() *meta.Store { return n.store }

// Failed is closed when the node can no longer follow its cluster (its
// control plane met a command of a newer jmqx); Err then says why. The
// process should call Shutdown and exit.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why Failed was closed, nil before.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failure
	default:
		return nil
	}
}

// fail records err and closes Failed, once.
func (n *Node) fail(err error) {
	n.failedOnce.Do(func() {
		n.failure = err
		close(n.failed)
	})
}

// reservedPorts are the ports this node uses itself, which no tenant may
// configure (admin API, Raft).
func (n *Node) reservedPorts() map[int]string {
	ports := make(map[int]string, 2)
	add := func(addr, use string) {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if port, err := strconv.Atoi(p); err == nil && port > 0 {
				ports[port] = use
			}
		}
	}
	if a := n.api.Addr(); a != nil {
		add(a.String(), "this node's admin API")
	}
	add(n.store.RaftAddr(), "this node's Raft")
	return ports
}

// Shutdown stops reconciling, closes the admin API, disconnects every
// client (v5 clients get DISCONNECT 0x8B) waiting for them until ctx is
// done, shuts the Raft node down cleanly, and releases the data directory.
func (n *Node) Shutdown(ctx context.Context) error { return n.shutdown(ctx, true) }

// shutdown is Shutdown; release drops the data directory's lock (Start
// drops it itself when it fails).
func (n *Node) shutdown(ctx context.Context, release bool) error {
	var err error
	n.stopOnce.Do(func() {
		close(n.done)
		<-n.loopDone
		n.drainWG.Wait()
		err = n.closeAll(ctx)
		if release {
			n.lock.release()
		}
		n.log.Info("node stopped")
	})
	return err
}

func (n *Node) closeAll(ctx context.Context) error {
	var errs []error
	if n.api != nil {
		errs = append(errs, n.api.Shutdown(ctx))
	}
	errs = append(errs, n.host.Close(ctx), n.stopCluster(), n.store.Shutdown())
	return errors.Join(errs...)
}

// clusterLeaveTimeout bounds how long a stopping node tells the others
// that it leaves.
const clusterLeaveTimeout = 2 * time.Second

// stopCluster leaves the cluster's data plane, if it runs.
func (n *Node) stopCluster() error {
	if n.cluster == nil {
		return nil
	}
	return n.cluster.Shutdown(clusterLeaveTimeout)
}

// loopbackAddr reports whether a "host:port" names a loopback address.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
