package meta

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmqx/jmqx/tenant"
)

// Fault runs: JMQX_FAULT_SEEDS=N runs seeds 1..N (default 20),
// JMQX_FAULT_SEED=S runs seed S alone, JMQX_FAULT_DURATION=D injects
// faults for D per seed (default 600ms).
func faultSeeds(t *testing.T) (seeds []uint64, d time.Duration) {
	n, d := 20, 600*time.Millisecond
	if v := os.Getenv("JMQX_FAULT_SEEDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("JMQX_FAULT_SEEDS=%q: %v", v, err)
		}
	}
	if v := os.Getenv("JMQX_FAULT_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("JMQX_FAULT_DURATION=%q: %v", v, err)
		}
	}
	if v := os.Getenv("JMQX_FAULT_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("JMQX_FAULT_SEED=%q: %v", v, err)
		}
		return []uint64{s}, d
	}
	for s := range n {
		seeds = append(seeds, uint64(s+1))
	}
	return seeds, d
}

// faultLedger is what the writers of a fault run were told.
type faultLedger struct {
	mu      sync.Mutex
	puts    []string          // tenants whose PutTenant was acknowledged
	casUser []string          // users whose compare-and-set was acknowledged
	casBase map[uint64]string // acknowledged CAS by the revision it expected
	refused int               // CAS refused for a stale revision
	doubles []string          // CAS acknowledged at a revision already consumed
}

// TestRaftFaults writes to a three-node group while links are cut one or
// both ways, the leader is isolated, nodes restart on their stores and
// snapshot; after healing, every acknowledged write is in every node's
// state, the states are identical, and no acknowledged compare-and-set
// is lost or was decided on a revision another one already consumed.
func TestRaftFaults(t *testing.T) {
	t.Parallel()
	seeds, d := faultSeeds(t)
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			runFaults(t, seed, d)
		})
	}
}

func runFaults(t *testing.T, seed uint64, d time.Duration) {
	c := newFaultCluster(t, 3)
	// The first write goes to whichever node leads (on a loaded machine
	// the first leader may lose its lease before it commits); it is
	// idempotent, so an unknown outcome is simply tried again.
	eventually(t, 30*time.Second, func() error {
		i := c.leader()
		if i < 0 {
			return errors.New("no leader")
		}
		return c.store(i).Apply(testContext(t, 5*time.Second), CmdPutTenant, PutTenant{Spec: testSpec("cas")})
	})
	eventually(t, 10*time.Second, func() error { // every node has it before the writers read it
		for i := range c.nodes {
			if err := hasTenants(c.store(i).State(), "cas"); err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
		}
		return nil
	})
	led := &faultLedger{casBase: map[uint64]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() { putWriter(c, led, w, stop) })
	}
	for w := range 3 {
		wg.Go(func() { casWriter(c, led, w, rand.New(rand.NewPCG(seed, uint64(w))), stop) })
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	var faults []string
	for end := time.Now().Add(d); time.Now().Before(end); {
		faults = append(faults, c.injectFault(rng))
		// Each fault holds for 20–100 ms of the writers' traffic: the
		// schedule of the test, not a wait for anything.
		time.Sleep(time.Duration(20+rng.IntN(80)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	final := c.settle(45 * time.Second)
	if err := hasTenants(final, led.puts...); err != nil {
		t.Errorf("an acknowledged write is lost: %v", err)
	}
	if len(led.doubles) > 0 {
		t.Errorf("compare-and-sets acknowledged at the same revision: %v", led.doubles)
	}
	spec := final.Tenants["cas"]
	for _, name := range led.casUser {
		if !slices.ContainsFunc(spec.Auth.Users, func(u tenant.User) bool { return u.Name == name }) {
			t.Errorf("acknowledged compare-and-set adding %q is lost", name)
		}
	}
	t.Logf("seed %d: %d faults %v; %d puts and %d compare-and-sets acknowledged, %d refused as stale",
		seed, len(faults), faults, len(led.puts), len(led.casUser), led.refused)
	if t.Failed() {
		t.Logf("reproduce with JMQX_FAULT_SEED=%d go test -run 'TestRaftFaults' ./meta/", seed)
	}
}

// putWriter creates tenants on whichever node leads until stop.
func putWriter(c *faultCluster, led *faultLedger, w int, stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		name := fmt.Sprintf("p%d-%d", w, n)
		if err := applyOnLeader(c, CmdPutTenant, PutTenant{Spec: testSpec(name)}); err == nil {
			led.mu.Lock()
			led.puts = append(led.puts, name)
			led.mu.Unlock()
		}
	}
}

// casWriter adds users to tenant "cas" by read-modify-write: it reads the
// spec and its revision from a random node (a follower's may be stale),
// adds one user, and writes it back with IfRevision, until stop.
func casWriter(c *faultCluster, led *faultLedger, w int, rng *rand.Rand, stop <-chan struct{}) {
	for n := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		store := c.store(rng.IntN(len(c.nodes)))
		st := store.State()
		spec, ok := st.Tenant("cas")
		rev := st.TenantRevision("cas")
		if !ok || rev == 0 { // a restarted node replaying: wait for its next change
			changes, cancel := store.Watch()
			select {
			case <-changes:
			case <-stop:
			case <-time.After(100 * time.Millisecond): // a stopped node changes no more
			}
			cancel()
			continue
		}
		name := fmt.Sprintf("c%d-%d", w, n)
		spec.Auth.Users = append(spec.Auth.Users, tenant.User{Name: name, PasswordHashes: []string{testHash}})
		err := applyOnLeader(c, CmdPutTenant, PutTenant{Spec: spec, IfRevision: rev})
		led.mu.Lock()
		switch {
		case err == nil:
			if prev, dup := led.casBase[rev]; dup {
				led.doubles = append(led.doubles, fmt.Sprintf("%s and %s at revision %d", prev, name, rev))
			}
			led.casBase[rev] = name
			led.casUser = append(led.casUser, name)
			n++
		case errors.Is(err, ErrChanged):
			led.refused++
		default:
			n++ // outcome unknown: never reuse the name
		}
		led.mu.Unlock()
	}
}

// applyOnLeader applies a command on a node that believes it leads, with
// a short deadline; errNoLeader when none does.
func applyOnLeader(c *faultCluster, t CommandType, payload any) error {
	i := c.leader()
	if i < 0 {
		// Wait, briefly, for a node to learn of a leader (an election
		// takes a few ms in memory); the writer retries either way.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_ = c.store(0).WaitLeader(ctx)
		return errNoLeader
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return c.store(i).Apply(ctx, t, payload)
}

var errNoLeader = errors.New("no leader")

// A follower that runs an older release stops at the first entry it
// cannot fully understand, without diverging and while the others go on;
// upgraded and restarted on its stores, it catches up.
func TestOlderFollowerStopsThenCatchesUpUpgraded(t *testing.T) {
	t.Parallel()
	c := newFaultCluster(t, 3)
	ctx := testContext(t, 30*time.Second)
	older := NewFSM(nil) // knows only version 1 of PutTenant
	older.handlers[CmdPutTenant] = handlerFor(PayloadVersion, applyPutTenant)
	c.restart(2, older)
	leader := c.store(0)
	eventually(t, 10*time.Second, func() error {
		if !leader.IsLeader() {
			return errors.New("n0 does not lead")
		}
		return nil
	})
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("a")}); err != nil {
		t.Fatal(err)
	}
	spec := testSpec("a")
	spec.ACL.Default = tenant.Allow
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: spec, IfRevision: leader.State().TenantRevision("a")}); err != nil {
		t.Fatal(err) // version 2: the older node cannot apply it
	}
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("b")}); err != nil {
		t.Fatal(err) // the others go on
	}
	old := c.store(2)
	select {
	case <-old.Stopped():
	case <-ctx.Done():
		t.Fatal("the older node did not stop")
	}
	if err := old.Err(); !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("Err = %v, want ErrNewerVersion", err)
	}
	if a, _ := old.State().Tenant("a"); a.ACL.Default != tenant.Deny || hasTenants(old.State(), "b") == nil {
		t.Errorf("the stopped node applied past the entry it could not understand: %s", stateJSON(t, old.State()))
	}
	if err := old.Snapshot(); err == nil {
		t.Error("the stopped node took a snapshot (and could compact away what it did not apply)")
	}

	c.restart(2, nil) // upgraded
	c.settle(15 * time.Second)
}
