package cluster

import (
	"fmt"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/testwait"
)

// TestSessionMoveMovesStoredState: each node stores the sessions it holds;
// a session that moves takes its stored state along: the node it left
// deletes its record, the node it moved to writes it, queued messages
// included, and a restart of that node restores it.
func TestSessionMoveMovesStoredState(t *testing.T) {
	n := &testNet{t: t}
	stores := []*broker.MemoryStore{broker.NewMemoryStore(), broker.NewMemoryStore(), broker.NewMemoryStore()}
	a := n.startWith("n1", "127.0.0.1", []broker.Option{broker.WithStore(stores[0])})
	b := n.startWith("n2", "127.0.0.2", []broker.Option{broker.WithStore(stores[1])})
	c := n.startWith("n3", "127.0.0.3", []broker.Option{broker.WithStore(stores[2])})
	n.waitMesh(a, b, c)
	s := mustConnect(t, a, "mover", connectOpts{clean: true, expiry: 3600})
	s.subscribe(t, "q/#", 1)
	s.leave()
	pub := dial(t, c, "pub")
	publishN(t, pub, "q/x", 0, 10)
	held := func(ms *broker.MemoryStore, want int, where string) {
		t.Helper()
		testwait.Until(t, waitFor, func() error {
			if got, _ := ms.Len(); got != want {
				return fmt.Errorf("%s stores %d sessions, want %d", where, got, want)
			}
			return nil
		})
	}
	held(stores[0], 1, "a")
	s2 := mustConnect(t, b, "mover", connectOpts{expiry: 3600, manual: true}) // acknowledges nothing
	if !s2.ack.SessionPresent {
		t.Fatal("session present not set on b")
	}
	s2.leave() // the 10 messages stay in the session, unacknowledged, now on b
	held(stores[0], 0, "a (the session left it)")
	held(stores[1], 1, "b (the session moved there)")
	got, err := stores[1].Load()
	if err != nil {
		t.Fatal(err)
	}
	st := got.Sessions[0].State
	if st.ClientID != "mover" || len(st.Queue)+len(st.Inflight) != 10 {
		t.Fatalf("b stored %q with %d queued and %d inflight, want mover with 10", st.ClientID, len(st.Queue), len(st.Inflight))
	}
	b.stop(t)
	n.boot(b) // b restarts on its store
	n.waitMesh(a, b, c)
	s3 := mustConnect(t, b, "mover", persistent)
	if !s3.ack.SessionPresent {
		t.Fatal("session present not set on b after its restart")
	}
	expectInOrder(t, s3, 10)
}
