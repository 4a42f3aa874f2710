package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/admin"
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

	ports      portBook
	reconciled atomic.Bool
	dirty      atomic.Bool // a reconcile or a report of bound addresses failed: retry
	// lastFailure is the last reconcile error logged (reconcile runs on
	// one goroutine at a time: Start's, then the loop's).
	lastFailure string
	rates       rateBook

	done     chan struct{}
	loopDone chan struct{}
	stopOnce sync.Once
}

// Files in DataDir.
const (
	idFile    = "node-id"
	raftDir   = "raft"
	portsFile = "ports.json"
)

// reportConcurrency bounds the bound-address reports in flight at once.
const reportConcurrency = 16

// reconcileRetry is how often a failed reconcile or report is retried, and
// how often message rates are sampled.
const reconcileRetry = time.Second

// Start opens the node's control plane, serves its admin API and its
// tenants, and joins or bootstraps the cluster. It returns once the node
// is a member: bootstrapped, restarted on its own state, or joined.
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
	id, err := loadOrCreateID(cfg.DataDir, cfg.NodeID)
	if err != nil {
		return nil, err
	}
	token := cfg.AdminToken
	if token == "" && !loopbackAddr(cfg.AdminAddr) {
		if token, err = admin.LoadOrCreateToken(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("node: admin token: %w", err)
		}
		log.Info("admin API token in the data directory", zap.String("file", filepath.Join(cfg.DataDir, admin.TokenFile)))
	}
	fresh := !fileExists(filepath.Join(cfg.DataDir, raftDir, "raft.db"))
	n := &Node{cfg: cfg, log: log.Named("node").With(zap.String("node", id)), id: id,
		done: make(chan struct{}), loopDone: make(chan struct{})}
	n.ports.load(filepath.Join(cfg.DataDir, portsFile), n.log)
	n.store, err = meta.Open(meta.Config{
		NodeID: id, Dir: filepath.Join(cfg.DataDir, raftDir), BindAddr: cfg.RaftAddr, AdvertiseAddr: cfg.RaftAdvertise,
		Bootstrap: len(cfg.Join) == 0, TLS: cfg.RaftTLS, SnapshotThreshold: cfg.SnapshotThreshold,
		TrailingLogs: cfg.TrailingLogs, SnapshotInterval: cfg.SnapshotInterval,
	}, meta.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("node: control plane: %w", err)
	}
	hostOpts := []tenant.Option{tenant.WithLogger(log), tenant.WithPortHints(n.portHint)}
	if cfg.Hooks != nil {
		hostOpts = append(hostOpts, tenant.WithHooks(cfg.Hooks))
	}
	if n.host, err = tenant.NewHost(cfg.Host, hostOpts...); err != nil {
		return nil, errors.Join(err, n.store.Shutdown())
	}
	n.api, err = admin.New(admin.Config{Addr: cfg.AdminAddr, Token: token, TLS: cfg.AdminTLS}, &backend{n: n}, admin.WithLogger(log))
	if err == nil {
		err = n.api.Start()
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("node: admin API: %w", err), n.store.Shutdown())
	}
	if n.self, err = n.adminClient(n.api.Addr().String(), token); err != nil {
		return nil, errors.Join(err, n.closeAll(ctx))
	}
	if err := n.enter(ctx, fresh); err != nil {
		close(n.loopDone)
		return nil, errors.Join(err, n.Shutdown(context.WithoutCancel(ctx)))
	}
	if err := n.reconcile(); err != nil { // start-up fails on what cannot be served
		close(n.loopDone)
		return nil, errors.Join(err, n.Shutdown(context.WithoutCancel(ctx)))
	}
	go n.loop()
	n.log.Info("node started", zap.String("admin", n.api.Addr().String()), zap.String("raft", n.store.RaftAddr()))
	return n, nil
}

// enter bootstraps the cluster or joins it.
func (n *Node) enter(ctx context.Context, fresh bool) error {
	if len(n.cfg.Join) > 0 {
		return n.join(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !fresh {
		// A restart: the Raft state knows the cluster. Let the log replay
		// before the first reconcile, so that tenants start once, from the
		// latest state; without a quorum, serve what the snapshot holds.
		if err := n.store.WaitLeader(wctx); err != nil {
			n.log.Warn("no leader yet; serving the tenants of the local state", zap.Error(err))
			return nil
		}
		if n.store.IsLeader() {
			_ = n.store.Barrier(wctx)
		}
		return nil
	}
	if err := n.store.WaitLeader(wctx); err != nil {
		return fmt.Errorf("node: bootstrap: %w", err)
	}
	if err := n.store.Apply(wctx, meta.CmdPutMember, meta.PutMember{Member: n.member()}); err != nil {
		return fmt.Errorf("node: bootstrap: record this member: %w", err)
	}
	if d := n.cfg.DefaultTenant; d != nil {
		if err := n.store.Apply(wctx, meta.CmdPutTenant, meta.PutTenant{Spec: *d, IfAbsent: true}); err != nil {
			return fmt.Errorf("node: create the %q tenant: %w", d.Name, err)
		}
		n.log.Info("tenant created", zap.String("tenant", d.Name))
	}
	return nil
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

// member is this node's member record.
func (n *Node) member() meta.Member {
	return meta.Member{ID: n.id, RaftAddr: n.store.RaftAddr(), AdminAddr: n.api.Addr().String()}
}

// join asks the members in cfg.Join, in turn and again until JoinTimeout,
// to add this node as a voter. Joining again is harmless.
func (n *Node) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	m := n.member()
	view := admin.MemberView{ID: m.ID, RaftAddr: m.RaftAddr, AdminAddr: m.AdminAddr}
	var last error
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		for _, addr := range n.cfg.Join {
			c, err := n.adminClient(addr, n.self.Token())
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

// loop reconciles the tenants to the control plane's state on every
// change, and retries what failed.
func (n *Node) loop() {
	defer close(n.loopDone)
	changes, cancel := n.store.Watch()
	defer cancel()
	tick := time.NewTicker(reconcileRetry)
	defer tick.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-changes:
			_ = n.reconcile()
		case <-tick.C:
			n.rates.sample(n.host.List())
			if n.dirty.Load() {
				_ = n.reconcile()
			}
		}
	}
}

// reconcile makes the Host serve the replicated tenants, then reports the
// addresses it bound. It returns what the Host could not apply (it is
// retried every second).
func (n *Node) reconcile() error {
	st := n.store.State()
	names := st.TenantNames()
	specs := make([]tenant.Spec, 0, len(names))
	for _, name := range names {
		spec, _ := st.Tenant(name)
		specs = append(specs, spec)
	}
	dirty := false
	err := n.host.Reconcile(specs)
	if err != nil {
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
	n.reconciled.Store(true)
	n.ports.save(n.host.List(), func(name string) bool { _, ok := st.Tenants[name]; return ok })
	if !n.report(st) {
		dirty = true
	}
	if n.store.IsLeader() {
		if m, ok := st.Members[n.id]; !ok || m != n.member() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := n.store.Apply(ctx, meta.CmdPutMember, meta.PutMember{Member: n.member()}); err != nil {
				dirty = true
			}
			cancel()
		}
	}
	n.dirty.Store(dirty)
	return err
}

// report records, through the leader, the addresses this node bound for
// each tenant whose record differs; false when one could not be recorded.
func (n *Node) report(st meta.State) bool {
	var stale []tenant.Status
	for _, ts := range n.host.List() {
		if !maps.Equal(st.BoundAddrs(ts.Spec.Name, n.id), ts.Listeners) {
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
			err := n.self.RecordBound(ctx, ts.Spec.Name, n.id, ts.Listeners)
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
func (n *Node) portHint(tenantName, listener string) int {
	if p := n.ports.get(tenantName, listener); p != 0 {
		return p
	}
	addr := n.store.State().BoundAddrs(tenantName, n.id)[listener]
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

// Shutdown stops reconciling, closes the admin API, disconnects every
// client (v5 clients get DISCONNECT 0x8B) waiting for them until ctx is
// done, and shuts the Raft node down cleanly.
func (n *Node) Shutdown(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		close(n.done)
		<-n.loopDone
		err = n.closeAll(ctx)
		n.log.Info("node stopped")
	})
	return err
}

func (n *Node) closeAll(ctx context.Context) error {
	var errs []error
	if n.api != nil {
		errs = append(errs, n.api.Shutdown(ctx))
	}
	errs = append(errs, n.host.Close(ctx), n.store.Shutdown())
	return errors.Join(errs...)
}

// loadOrCreateID returns the node ID: want if given (saved for later
// starts), else the saved one, else a new random one, saved.
func loadOrCreateID(dir, want string) (string, error) {
	path := filepath.Join(dir, idFile)
	if want != "" {
		if err := os.WriteFile(path, []byte(want+"\n"), 0o640); err != nil {
			return "", fmt.Errorf("node: save the node ID: %w", err)
		}
		return want, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("node: node ID: %w", err)
	}
	id := "node-" + hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("node: save the node ID: %w", err)
	}
	return id, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
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
