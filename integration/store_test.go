package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/testwait"
)

// Persistence (broker.WithStore) with real clients: a broker stops, another
// starts on the same store, and the sessions and retained messages are
// there. The bbolt store and the jmqx binary's crash tests are in
// store/ and integration/*persist*_e2e_test.go; these use the MemoryStore,
// which keeps the records' binary forms as a database would.

// stopBroker shuts n down (its store written and closed).
func stopBroker(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// leaveSubscribed gives client id a session of expiry seconds subscribed
// to filter, and disconnects it: the session stays, offline.
func leaveSubscribed(t *testing.T, n *node, id, filter string, qos byte, expiry uint32) {
	t.Helper()
	c := dialV5(t, n, id, cleanStart(false), sessionExpiry(expiry))
	c.subscribe(filter, qos)
	_ = c.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 0)
}

func TestStoreRestoresSessionsAndRetained(t *testing.T) {
	t.Parallel()
	ms := broker.NewMemoryStore()
	n := startBroker(t, broker.Config{}, broker.WithStore(ms))
	leaveSubscribed(t, n, "keeper", "st/#", 2, 3600)
	v3 := dialV311(t, n, "keeper3", func(o *mqttOptions) { o.SetCleanSession(false) })
	v3.subscribe("st/#", 1)
	v3.Disconnect(250)
	waitConnected(t, n, 0)
	pub := dialV5(t, n, "pub")
	pub.publish("st/a", "q1", 1, false)
	pub.publish("st/a", "q2", 2, false)
	pub.publish("st/b", "q3", 1, false)
	pub.publish("st/r", "last", 1, true)
	_ = pub.Disconnect(&paho.Disconnect{})
	stopBroker(t, n)

	n2 := startBroker(t, broker.Config{}, broker.WithStore(ms))
	c := dialV5(t, n2, "keeper", cleanStart(false), sessionExpiry(3600))
	if !c.connack.SessionPresent {
		t.Fatal("session not restored: CONNACK Session Present 0")
	}
	for _, want := range []string{"q1", "q2", "q3", "last"} {
		if m := expectMessage(t, c.msgs, waitFor); m.Payload != want {
			t.Fatalf("got %v, want %q (in order)", m, want)
		}
	}
	c3 := dialV311(t, n2, "keeper3", func(o *mqttOptions) { o.SetCleanSession(false) })
	for _, want := range []string{"q1", "q2", "q3", "last"} {
		if m := expectMessage(t, c3.msgs, waitFor); m.Payload != want {
			t.Fatalf("3.1.1: got %v, want %q (in order)", m, want)
		}
	}
	fresh := dialV5(t, n2, "fresh")
	fresh.subscribe("st/r", 1)
	if m := expectMessage(t, fresh.msgs, waitFor); m.Payload != "last" || !m.Retain {
		t.Fatalf("retained: got %v, want \"last\" retained", m)
	}
	pub2 := dialV5(t, n2, "pub2")
	pub2.publish("st/a", "live", 1, false)
	if m := expectMessage(t, c.msgs, waitFor); m.Payload != "live" {
		t.Fatalf("restored subscription: got %v, want \"live\"", m)
	}
}

// gatedStore makes every Write wait for a token from the test, to see
// what waits for a write.
type gatedStore struct {
	*broker.MemoryStore
	tokens chan struct{}
	mu     sync.Mutex
	n      int // writes begun
}

func newGatedStore() *gatedStore {
	return &gatedStore{MemoryStore: broker.NewMemoryStore(), tokens: make(chan struct{}, 64)}
}

func (g *gatedStore) Write(b *broker.StoreBatch) error {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	<-g.tokens
	return g.MemoryStore.Write(b)
}

// waitBegun waits until n writes have begun.
func (g *gatedStore) waitBegun(t *testing.T, n int) {
	t.Helper()
	testwait.Until(t, waitFor, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.n < n {
			return fmt.Errorf("%d writes begun, want %d", g.n, n)
		}
		return nil
	})
}

// In sync mode a SUBACK and a PUBACK wait for the store write; in the
// default mode they do not.
func TestStoreSyncAcknowledgesAfterWrite(t *testing.T) {
	t.Parallel()
	for _, sync := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%t", sync), func(t *testing.T) {
			gs := newGatedStore()
			n := startBroker(t, broker.Config{StoreSync: sync, StoreInterval: time.Hour}, broker.WithStore(gs))
			t.Cleanup(func() { close(gs.tokens) }) // runs before the broker's Shutdown, which writes
			if err := n.b.Restore(); err != nil {  // nothing stored: nothing to write
				t.Fatalf("Restore: %v", err)
			}
			sub := dialV5(t, n, "s", cleanStart(false), sessionExpiry(600))
			acked := make(chan byte, 1)
			go func() { acked <- sub.subscribe("g/#", 1) }()
			if sync {
				gs.waitBegun(t, 1)
				expectNothing(t, acked, "SUBACK before the store write")
				gs.tokens <- struct{}{}
			}
			if rc := <-acked; rc != 1 {
				t.Fatalf("SUBACK %d", rc)
			}
			_ = sub.Disconnect(&paho.Disconnect{})
			waitConnected(t, n, 0)
			pub := dialV5(t, n, "p")
			go func() { acked <- pub.publish("g/1", "m", 1, false) }()
			if sync {
				gs.waitBegun(t, 2)
				expectNothing(t, acked, "PUBACK before the store write")
				gs.tokens <- struct{}{}
			}
			if rc := <-acked; rc != 0 {
				t.Fatalf("PUBACK %#x", rc)
			}
			// A message no stored session gets is acknowledged at once.
			if rc := pub.publish("elsewhere", "m", 1, false); rc != 0x10 {
				t.Fatalf("PUBACK %#x, want 0x10 no matching subscribers", rc)
			}
		})
	}
}

// expectNothing fails if ch holds a value now: what the test waits on has
// begun (a write), so an acknowledgement sent before it would be there.
func expectNothing(t *testing.T, ch <-chan byte, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s (%#x)", what, v)
	default:
	}
}

// crashStore stops storing at crash(): later writes fail, as a dead
// process writes nothing, so no acknowledgement waiting for them goes out.
type crashStore struct {
	*broker.MemoryStore
	mu      sync.Mutex
	crashed bool
}

func (c *crashStore) Write(b *broker.StoreBatch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return errors.New("crashed")
	}
	return c.MemoryStore.Write(b)
}

func (c *crashStore) crash() {
	c.mu.Lock()
	c.crashed = true
	c.mu.Unlock()
}

// In sync mode every message acknowledged before a crash is delivered
// after it, in order.
func TestStoreSyncCrashLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	cs := &crashStore{MemoryStore: broker.NewMemoryStore()}
	cfg := broker.Config{StoreSync: true, StoreInterval: time.Hour}
	n := startBroker(t, cfg, broker.WithStore(cs))
	leaveSubscribed(t, n, "durable", "crash/#", 1, 3600)
	pub := dialV5(t, n, "pub")
	const total = 400
	acked := make(chan int, total)
	go func() {
		defer close(acked)
		for i := range total {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := pub.Publish(ctx, &paho.Publish{Topic: "crash/n", Payload: []byte(fmt.Sprint(i)), QoS: 1})
			cancel()
			if err != nil {
				return // the crash holds the acknowledgements back
			}
			acked <- i
		}
	}()
	for i := range total / 2 {
		if got := <-acked; got != i {
			t.Fatalf("acknowledged %d, want %d", got, i)
		}
	}
	cs.crash()
	last := total/2 - 1
	for i := range acked {
		last = i
	}
	if last == total-1 {
		t.Fatal("every message was acknowledged after the crash")
	}
	stopBroker(t, n)

	n2 := startBroker(t, cfg, broker.WithStore(cs.MemoryStore))
	c := dialV5(t, n2, "durable", cleanStart(false), sessionExpiry(3600))
	for i := 0; i <= last; i++ {
		if m := expectMessage(t, c.msgs, waitFor); m.Payload != fmt.Sprint(i) {
			t.Fatalf("after the crash: got %v, want %d (%d were acknowledged)", m, i, last+1)
		}
	}
	t.Logf("%d messages acknowledged before the crash, all delivered after it, in order", last+1)
}

// shiftStore moves every record of ms back by d, as if the broker had been
// down for d longer.
func shiftStore(t *testing.T, ms *broker.MemoryStore, d time.Duration) {
	t.Helper()
	c, err := ms.Load()
	if err != nil {
		t.Fatal(err)
	}
	b := &broker.StoreBatch{Time: c.Alive.Add(-d)}
	for _, s := range c.Sessions {
		s.Saved = s.Saved.Add(-d)
		b.Sessions = append(b.Sessions, s)
	}
	for _, r := range c.Retained {
		r.Saved = r.Saved.Add(-d)
		b.Retained = append(b.Retained, r)
	}
	if err := ms.Write(b); err != nil {
		t.Fatal(err)
	}
}

// Session expiry and will delay count the time the broker was down: an
// expired session is gone and its will published once; a will whose delay
// passed is published and its session kept.
func TestStoreExpiryCountsDowntime(t *testing.T) {
	t.Parallel()
	ms := broker.NewMemoryStore()
	n := startBroker(t, broker.Config{}, broker.WithStore(ms))
	leaveSubscribed(t, n, "watcher", "will/#", 1, 86400)
	dialV5(t, n, "short", cleanStart(false), sessionExpiry(600), will("will/short", "gone", 1, 300))
	dialV5(t, n, "long", cleanStart(false), sessionExpiry(86400), will("will/long", "late", 1, 300))
	waitConnected(t, n, 2)
	stopBroker(t, n) // both lose their connection with the broker: wills pending
	shiftStore(t, ms, time.Hour)

	for round := range 2 {
		n2 := startBroker(t, broker.Config{}, broker.WithStore(ms))
		if err := n2.b.Restore(); err != nil {
			t.Fatalf("Restore: %v", err)
		}
		c := dialV5(t, n2, "watcher", cleanStart(false), sessionExpiry(86400))
		var got []string
		pub := dialV5(t, n2, "pub")
		pub.publish("will/end", "end", 1, false)
		for _, m := range collectUntil(t, c.msgs, "end") {
			got = append(got, m.Payload)
		}
		want := []string{"gone", "late"}
		if round == 1 {
			want = nil // published once: the restart wrote the sessions' new state
		}
		if fmt.Sprint(got) != fmt.Sprint(want) && fmt.Sprint(got) != "[late gone]" {
			t.Fatalf("round %d: wills %q, want %q", round, got, want)
		}
		short, err := connectV5(t, n2, "short", cleanStart(false)) // expiry 0: ends with this connection
		if err != nil || short.connack.SessionPresent {
			t.Fatalf("round %d: the expired session is present (err %v)", round, err)
		}
		long := dialV5(t, n2, "long", cleanStart(false), sessionExpiry(86400))
		if !long.connack.SessionPresent {
			t.Fatalf("round %d: the session whose will was due is gone", round)
		}
		_ = short.Disconnect(&paho.Disconnect{})
		_ = long.Disconnect(&paho.Disconnect{})
		_ = c.Disconnect(&paho.Disconnect{})
		_ = pub.Disconnect(&paho.Disconnect{})
		waitConnected(t, n2, 0)
		stopBroker(t, n2)
	}
}

// A store reloaded under lower quotas keeps what they allow: the oldest
// queued messages, and as many retained messages as allowed.
func TestStoreReloadObeysQuotas(t *testing.T) {
	t.Parallel()
	ms := broker.NewMemoryStore()
	n := startBroker(t, broker.Config{}, broker.WithStore(ms))
	leaveSubscribed(t, n, "q", "quota/+", 1, 3600)
	pub := dialV5(t, n, "pub")
	for i := range 5 {
		pub.publish("quota/q", fmt.Sprint(i), 1, false)
		pub.publish(fmt.Sprintf("kept/%d", i), "r", 0, true)
	}
	_ = pub.Disconnect(&paho.Disconnect{})
	stopBroker(t, n)

	n2 := startBroker(t, broker.Config{MaxQueuedMessages: 3, MaxRetainedMessages: 2}, broker.WithStore(ms))
	c := dialV5(t, n2, "q", cleanStart(false), sessionExpiry(3600))
	pub2 := dialV5(t, n2, "pub2")
	pub2.publish("quota/q", "end", 1, false)
	var got []string
	for _, m := range collectUntil(t, c.msgs, "end") {
		got = append(got, m.Payload)
	}
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("queue after reload: %q, want the oldest 3", got)
	}
	if st := n2.b.Stats(); st.Retained != 2 {
		t.Fatalf("retained after reload: %d, want 2", st.Retained)
	}
	stopBroker(t, n2)
	if _, r := ms.Len(); r != 2 {
		t.Fatalf("the store holds %d retained messages after the reload, want 2", r)
	}
}

// flakyStore fails its writes while failing is set.
type flakyStore struct {
	*broker.MemoryStore
	failing atomic.Bool
	fails   atomic.Int64
}

func (f *flakyStore) Write(b *broker.StoreBatch) error {
	if f.failing.Load() {
		f.fails.Add(1)
		return errors.New("disk full")
	}
	return f.MemoryStore.Write(b)
}

// A failing store holds sync acknowledgements back, and the broker tries
// again: once the store works, the change is written and acknowledged.
func TestStoreFailureHoldsSyncAcknowledgements(t *testing.T) {
	t.Parallel()
	fs := &flakyStore{MemoryStore: broker.NewMemoryStore()}
	n := startBroker(t, broker.Config{StoreSync: true, StoreInterval: 50 * time.Millisecond}, broker.WithStore(fs))
	leaveSubscribed(t, n, "held", "fail/#", 1, 3600)
	fs.failing.Store(true)
	pub := dialV5(t, n, "pub")
	acked := make(chan byte, 1)
	go func() { acked <- pub.publish("fail/1", "m", 1, false) }()
	testwait.Until(t, waitFor, func() error {
		if f := fs.fails.Load(); f < 3 {
			return fmt.Errorf("%d failed writes, want 3 (retries)", f)
		}
		return nil
	})
	expectNothing(t, acked, "PUBACK while the store fails")
	fs.failing.Store(false)
	if rc := <-acked; rc != 0 {
		t.Fatalf("PUBACK %#x", rc)
	}
	if st := n.b.Stats(); st.StoreErrors < 3 || st.StoreWrites < 1 {
		t.Fatalf("store errors %d, writes %d", st.StoreErrors, st.StoreWrites)
	}
	got, err := fs.MemoryStore.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sessions) != 1 || len(got.Sessions[0].State.Queue) != 1 {
		t.Fatalf("stored %+v, want the session with its one queued message", got.Sessions)
	}
}
