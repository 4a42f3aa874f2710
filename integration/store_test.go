package integration

import (
	"context"
	"fmt"
	"sync"
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

func TestStoreRestoresSessionsAndRetained(t *testing.T) {
	t.Parallel()
	ms := broker.NewMemoryStore()
	n := startBroker(t, broker.Config{}, broker.WithStore(ms))
	sub := dialV5(t, n, "keeper", cleanStart(false), sessionExpiry(3600))
	sub.subscribe("st/#", 2)
	_ = sub.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 0)
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
