package meta

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// faultCluster is a Raft group on in-memory transports and stores whose
// links can be cut and healed and whose nodes can be restarted on the
// stores they wrote, as after a crash. It is safe for concurrent use.
type faultCluster struct {
	t     *testing.T
	log   *zap.Logger
	nodes []*faultNode

	mu  sync.Mutex      // guards cut and every node's store and trans
	cut map[[2]int]bool // i→j links that drop everything
}

// faultNode is one node: its identity and stores outlive its Store.
type faultNode struct {
	cfg   Config
	addr  raft.ServerAddress
	logs  *raft.InmemStore
	snaps *memSnapshots
	store *Store
	trans *raft.InmemTransport
}

// newFaultCluster starts n voters (node 0 bootstraps) with test timings
// and frequent snapshots, so that restarted and cut-off nodes catch up
// from snapshots too.
func newFaultCluster(t *testing.T, n int) *faultCluster {
	t.Helper()
	c := &faultCluster{t: t, log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)), cut: map[[2]int]bool{}}
	for i := range n {
		cfg := fastConfig(fmt.Sprintf("n%d", i))
		cfg.Bootstrap = i == 0
		cfg.TrailingLogs, cfg.SnapshotThreshold, cfg.SnapshotInterval = 8, 16, 30*time.Millisecond
		c.nodes = append(c.nodes, &faultNode{cfg: cfg, addr: inmemAddr(), logs: raft.NewInmemStore(), snaps: &memSnapshots{}})
		c.mu.Lock()
		c.startLocked(i, nil)
		c.mu.Unlock()
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			_ = c.store(i).Shutdown()
		}
	})
	first := c.store(0)
	eventually(t, 10*time.Second, func() error {
		if !first.IsLeader() {
			return errors.New("node 0 is not the leader")
		}
		return nil
	})
	ctx := testContext(t, 10*time.Second)
	for i := 1; i < n; i++ {
		if err := first.AddVoter(ctx, c.nodes[i].cfg.NodeID, string(c.nodes[i].addr)); err != nil {
			t.Fatalf("AddVoter: %v", err)
		}
	}
	return c
}

// startLocked starts node i's Store on its stores and a new transport,
// linked as c.cut says; fsm, if not nil, is its FSM. c.mu held.
func (c *faultCluster) startLocked(i int, fsm *FSM) {
	nd := c.nodes[i]
	_, trans := raft.NewInmemTransport(nd.addr)
	nd.trans = trans
	c.linkLocked(i)
	s, err := newStore(nd.cfg.withDefaults(), c.log.Named(nd.cfg.NodeID), deps{
		fsm: fsm, logs: nd.logs, stable: nd.logs, snaps: nd.snaps, trans: trans,
		closers: []io.Closer{closerFunc(trans.Close)},
	})
	if err != nil {
		c.t.Fatalf("start %s: %v", nd.cfg.NodeID, err)
	}
	nd.store = s
}

// linkLocked connects node i's transport with every other's as c.cut
// says. c.mu held.
func (c *faultCluster) linkLocked(i int) {
	for j, other := range c.nodes {
		if j == i || other.trans == nil {
			continue
		}
		c.setLinkLocked(i, j)
		c.setLinkLocked(j, i)
	}
}

// setLinkLocked makes the i→j link match c.cut. c.mu held.
func (c *faultCluster) setLinkLocked(i, j int) {
	from, to := c.nodes[i], c.nodes[j]
	if c.cut[[2]int{i, j}] {
		from.trans.Disconnect(to.addr)
	} else {
		from.trans.Connect(to.addr, to.trans)
	}
}

// store returns node i's current Store.
func (c *faultCluster) store(i int) *Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].store
}

// leader returns the index of a node that believes it leads, or -1.
func (c *faultCluster) leader() int {
	for i := range c.nodes {
		if c.store(i).IsLeader() {
			return i
		}
	}
	return -1
}

// setCut cuts (or heals) the links between node i and node j, both
// ways; j = -1 means every other node.
func (c *faultCluster) setCut(i, j int, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.nodes {
		if k != i && (j < 0 || k == j) {
			c.cut[[2]int{i, k}], c.cut[[2]int{k, i}] = cut, cut
			c.setLinkLocked(i, k)
			c.setLinkLocked(k, i)
		}
	}
}

// cutOneWay drops everything node i sends to node j.
func (c *faultCluster) cutOneWay(i, j int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[[2]int{i, j}] = true
	c.setLinkLocked(i, j)
}

// heal restores every link.
func (c *faultCluster) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.cut)
	for i := range c.nodes {
		c.linkLocked(i)
	}
}

// restart stops node i as a crash would (its unsaved nothing: the
// in-memory stores keep what Raft wrote) and starts it again on the same
// stores, with fsm as its FSM if not nil.
func (c *faultCluster) restart(i int, fsm *FSM) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nd := c.nodes[i]
	for j, other := range c.nodes {
		if j != i {
			other.trans.Disconnect(nd.addr)
		}
	}
	_ = nd.store.Shutdown()
	c.startLocked(i, fsm)
}

// settle heals the cluster, waits for a leader to commit a barrier, and
// then for every node's state to equal the leader's; it returns that
// state.
func (c *faultCluster) settle(d time.Duration) State {
	c.t.Helper()
	c.heal()
	var want State
	eventually(c.t, d, func() error {
		i := c.leader()
		if i < 0 {
			return errors.New("no leader")
		}
		s := c.store(i)
		if err := s.Barrier(testContext(c.t, time.Second)); err != nil {
			return fmt.Errorf("barrier on %s: %w", s.ID(), err)
		}
		want = s.State()
		return nil
	})
	wantJSON := stateJSON(c.t, want)
	eventually(c.t, d, func() error {
		for i := range c.nodes {
			if got := stateJSON(c.t, c.store(i).State()); got != wantJSON {
				return fmt.Errorf("node %d differs from the leader:\n got %s\nwant %s", i, got, wantJSON)
			}
		}
		return nil
	})
	return want
}

// injectFault applies one random fault: heal, isolate the leader, cut a
// node off, cut one direction of a link, restart a node, or snapshot.
func (c *faultCluster) injectFault(rng *rand.Rand) string {
	n := len(c.nodes)
	switch r := rng.IntN(100); {
	case r < 30:
		c.heal()
		return "heal"
	case r < 50:
		if i := c.leader(); i >= 0 {
			c.setCut(i, -1, true)
			return fmt.Sprintf("isolate leader n%d", i)
		}
		return "no leader to isolate"
	case r < 65:
		i := rng.IntN(n)
		c.setCut(i, -1, true)
		return fmt.Sprintf("isolate n%d", i)
	case r < 80:
		i, j := rng.IntN(n), rng.IntN(n-1)
		if j >= i {
			j++
		}
		c.cutOneWay(i, j)
		return fmt.Sprintf("cut n%d→n%d", i, j)
	case r < 90:
		i := rng.IntN(n)
		c.restart(i, nil)
		return fmt.Sprintf("restart n%d", i)
	default:
		i := rng.IntN(n)
		_ = c.store(i).Snapshot()
		return fmt.Sprintf("snapshot n%d", i)
	}
}
