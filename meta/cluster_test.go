package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/internal/testwait"
)

// eventually calls f until it returns nil, failing the test with f's last
// error if that takes longer than d.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testwait.Until(t, d, f)
}

// testContext returns a context that ends with the test or after d.
func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// memNode is a Store on in-memory storage and transport.
type memNode struct {
	*Store
	trans *raft.InmemTransport
}

// fastConfig returns a Config with LAN-test timings.
func fastConfig(id string) Config {
	return Config{
		NodeID:             id,
		Dir:                "unused",
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
	}
}

// startMemNode starts a node on fresh in-memory storage and a transport
// connected both ways to peers; it shuts down with the test.
func startMemNode(t *testing.T, cfg Config, peers ...*memNode) *memNode {
	t.Helper()
	addr, trans := raft.NewInmemTransport(inmemAddr())
	for _, other := range peers {
		trans.Connect(other.trans.LocalAddr(), other.trans)
		other.trans.Connect(addr, trans)
	}
	store := raft.NewInmemStore()
	s, err := newStore(cfg.withDefaults(), zaptest.NewLogger(t).Named(cfg.NodeID), deps{
		logs: store, stable: store, snaps: &memSnapshots{}, trans: trans,
		closers: []io.Closer{closerFunc(trans.Close)},
	})
	if err != nil {
		t.Fatalf("node %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return &memNode{Store: s, trans: trans}
}

// inmemAddrs numbers the in-memory transports' addresses.
var inmemAddrs atomic.Uint64

// inmemAddr returns a new in-memory address that reads as "host:port".
func inmemAddr() raft.ServerAddress {
	return raft.ServerAddress(fmt.Sprintf("mem-%d:7000", inmemAddrs.Add(1)))
}

// startMemCluster starts n connected in-memory nodes: node 0 bootstraps
// and adds the others as voters. tweak, if not nil, adjusts each Config.
func startMemCluster(t *testing.T, n int, tweak func(*Config)) []*memNode {
	t.Helper()
	nodes := make([]*memNode, n)
	for i := range nodes {
		cfg := fastConfig("n" + strconv.Itoa(i))
		cfg.Bootstrap = i == 0
		if tweak != nil {
			tweak(&cfg)
		}
		nodes[i] = startMemNode(t, cfg, nodes[:i]...)
	}
	ctx := testContext(t, 10*time.Second)
	eventually(t, 10*time.Second, func() error {
		if !nodes[0].IsLeader() {
			return errors.New("node 0 is not the leader")
		}
		return nil
	})
	for _, nd := range nodes[1:] {
		if err := nodes[0].AddVoter(ctx, nd.ID(), nd.RaftAddr()); err != nil {
			t.Fatalf("AddVoter %s: %v", nd.ID(), err)
		}
	}
	return nodes
}

// closerFunc adapts a Close method value to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// leaderOf returns the node that leads among nodes, waiting for one.
func leaderOf(t *testing.T, nodes []*memNode) *memNode {
	t.Helper()
	var leader *memNode
	eventually(t, 10*time.Second, func() error {
		for _, nd := range nodes {
			if nd.IsLeader() {
				leader = nd
				return nil
			}
		}
		return errors.New("no leader")
	})
	return leader
}

// hasTenants reports which of names st lacks, as an error.
func hasTenants(st State, names ...string) error {
	for _, name := range names {
		if _, ok := st.Tenants[name]; !ok {
			return fmt.Errorf("tenant %q missing at index %d", name, st.Index)
		}
	}
	return nil
}

func TestClusterReplicatesAndRefusesFollowerWrites(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 3, nil)
	ctx := testContext(t, 10*time.Second)

	if err := nodes[0].Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("a")}); err != nil {
		t.Fatalf("Apply on leader: %v", err)
	}
	for _, nd := range nodes {
		eventually(t, 5*time.Second, func() error { return hasTenants(nd.State(), "a") })
	}

	err := nodes[1].Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("b")})
	var nl *NotLeaderError
	if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply on follower = %v, want *NotLeaderError", err)
	}
	if nl.LeaderID != "n0" || nl.LeaderAddr != nodes[0].RaftAddr() {
		t.Errorf("NotLeaderError = %+v, want n0 at %s", nl, nodes[0].RaftAddr())
	}
	if err := nodes[0].Apply(ctx, CmdPutUser, PutUser{Tenant: "zz"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused Apply = %v, want ErrNotFound", err)
	}

	servers, err := nodes[0].Servers()
	if err != nil {
		t.Fatal(err)
	}
	want := []Server{{"n0", nodes[0].RaftAddr(), true, "leader"}, {"n1", nodes[1].RaftAddr(), true, "follower"}, {"n2", nodes[2].RaftAddr(), true, "follower"}}
	if fmt.Sprint(servers) != fmt.Sprint(want) {
		t.Errorf("Servers = %+v, want %+v", servers, want)
	}
	if err := nodes[0].AddVoter(ctx, "n1", nodes[1].RaftAddr()); err != nil {
		t.Errorf("AddVoter again: %v", err)
	}
}

func TestClusterFailoverLosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 3, nil)
	ctx := testContext(t, 20*time.Second)
	var acked []string
	put := func(leader *memNode, name string) {
		t.Helper()
		if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec(name)}); err != nil {
			t.Fatalf("Apply %s: %v", name, err)
		}
		acked = append(acked, name)
	}
	for i := range 5 {
		put(nodes[0], "before-"+strconv.Itoa(i))
	}

	if err := nodes[0].Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes[1:] {
		nd.trans.Disconnect(nodes[0].trans.LocalAddr())
	}
	rest := nodes[1:]
	leader := leaderOf(t, rest)
	for i := range 5 {
		put(leader, "after-"+strconv.Itoa(i))
	}
	for _, nd := range rest {
		eventually(t, 5*time.Second, func() error { return hasTenants(nd.State(), acked...) })
	}
}

func TestClusterCatchUpFromSnapshot(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 3, func(c *Config) {
		c.TrailingLogs = 2
		c.SnapshotThreshold = 1 << 20 // only the explicit Snapshot below
	})
	ctx := testContext(t, 20*time.Second)
	leader, lagger := nodes[0], nodes[2]

	// Cut the lagger off and move the log on without it.
	for _, nd := range nodes[:2] {
		nd.trans.Disconnect(lagger.trans.LocalAddr())
	}
	lagger.trans.DisconnectAll()
	var names []string
	for i := range 20 {
		name := "t-" + strconv.Itoa(i)
		if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec(name)}); err != nil {
			t.Fatalf("Apply %s: %v", name, err)
		}
		names = append(names, name)
	}
	if err := leader.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}

	for _, nd := range nodes[:2] {
		nd.trans.Connect(lagger.trans.LocalAddr(), lagger.trans)
		lagger.trans.Connect(nd.trans.LocalAddr(), nd.trans)
	}
	// raft restores the FSM before it records the installed snapshot, so
	// wait for both.
	eventually(t, 10*time.Second, func() error {
		if err := hasTenants(lagger.State(), names...); err != nil {
			return err
		}
		if got := lagger.raft.Stats()["last_snapshot_index"]; got == "0" {
			return errors.New("lagger has the tenants but no snapshot (last_snapshot_index 0): caught up from the log")
		}
		return nil
	})
}
