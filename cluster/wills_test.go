package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/testwait"
)

// registered waits until every node in xs knows a will of client from
// origin.
func registered(t *testing.T, origin string, client string, xs ...*testNode) {
	t.Helper()
	testwait.Until(t, waitFor, func() error {
		for _, x := range xs {
			x.c.wills.mu.Lock()
			_, ok := x.c.wills.byOrigin[origin][clientKey{"t", client}]
			x.c.wills.mu.Unlock()
			if !ok {
				return fmt.Errorf("%s does not know the will of %s", x.name, client)
			}
		}
		return nil
	})
}

// willsPublished sums the wills of lost nodes published by xs.
func willsPublished(xs ...*testNode) int64 {
	var n int64
	for _, x := range xs {
		n += x.c.SessionStats().WillsPublished
	}
	return n
}

// willDelay is the will delay of cutHolderOfWill's client, in seconds.
const willDelay = 3

// cutHolderOfWill starts three nodes, a subscriber to will/# on the third,
// and client id on the first with a will to will/{id} delayed willDelay,
// registered with the others; then it cuts the first node off. It returns
// the holder, the others and the subscriber.
func cutHolderOfWill(t *testing.T, id string) (*testNode, []*testNode, *client) {
	t.Helper()
	p := &partition{}
	_, nodes := three(t, p.tune)
	holder, others := nodes[0], nodes[1:]
	sub := dial(t, nodes[2], "watcher")
	sub.sub(t, "will/#", 1)
	mustConnect(t, holder, id, connectOpts{clean: true, expiry: 3600, willTo: "will/" + id, willWait: willDelay})
	registered(t, holder.name, id, others...)
	p.start()
	return holder, others, sub
}

// TestWillOfLostNode: the node holding a connected client with a will is
// cut off; the lowest-named survivor publishes the will once, after its
// delay, and a subscriber on another survivor gets it.
func TestWillOfLostNode(t *testing.T) {
	holder, others, sub := cutHolderOfWill(t, "dying")
	// The lowest-named survivor schedules it when it sees the holder dead.
	var due time.Time
	testwait.Until(t, 20*time.Second, func() error {
		w := others[0].c.wills
		w.mu.Lock()
		defer w.mu.Unlock()
		p := w.pending[clientKey{"t", "dying"}]
		if p == nil {
			return errors.New("the will is not pending on the lowest-named survivor")
		}
		due = p.at
		return nil
	})
	m := sub.expect(t)
	if string(m.Payload) != "gone:dying" || m.Topic != "will/dying" {
		t.Fatalf("got %q on %s", m.Payload, m.Topic)
	}
	if early := time.Until(due); early > 0 {
		t.Fatalf("the will came %s before its delay", early)
	}
	testwait.Until(t, 20*time.Second, func() error { return allDead(holder, others) })
	if n := willsPublished(others...); n != 1 {
		t.Fatalf("%d wills published, want 1", n)
	}
	if n := others[0].c.SessionStats().WillsPublished; n != 1 {
		t.Fatalf("the lowest-named survivor published %d wills", n)
	}
	select {
	case m := <-sub.msgs:
		t.Fatalf("a second message: %q", m.Payload)
	default:
	}
}

// TestNoWillWhenReconnectedElsewhere: the client of a lost node's session
// connects to a survivor before the will delay: no will is published.
func TestNoWillWhenReconnectedElsewhere(t *testing.T) {
	holder, others, sub := cutHolderOfWill(t, "back")
	testwait.Until(t, 20*time.Second, func() error { return allDead(holder, others) })
	testwait.Until(t, waitFor, func() error {
		w := others[0].c.wills
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.pending[clientKey{"t", "back"}] == nil {
			return errors.New("the will is not pending on the lowest-named survivor")
		}
		return nil
	})
	dead := time.Now()
	mustConnect(t, others[1], "back", persistent)
	testwait.Until(t, 2*willDelay*time.Second+waitFor, func() error {
		if n := willsPublished(others...); n != 0 {
			t.Fatalf("%d wills published", n)
		}
		if time.Since(dead) < 2*willDelay*time.Second {
			return errors.New("the will delay has not passed twice yet")
		}
		return nil
	})
	select {
	case m := <-sub.msgs:
		t.Fatalf("got %q on %s", m.Payload, m.Topic)
	default:
	}
}

// TestHandOff: a node's sessions (offline with queued messages, and
// connected) move to the live peers; reconnecting anywhere resumes them.
func TestHandOff(t *testing.T) {
	_, nodes := three(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	const sessions = 20
	for i := range sessions {
		s := mustConnect(t, a, "h"+strconv.Itoa(i), connectOpts{clean: true, expiry: 3600})
		s.subscribe(t, "h/"+strconv.Itoa(i), 1)
		if i%2 == 0 {
			s.leave()
		}
	}
	pub := dial(t, c, "pub")
	for i := range sessions {
		publishN(t, pub, "h/"+strconv.Itoa(i), 0, 5)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	if err := a.c.HandOff(ctx); err != nil {
		t.Fatal(err)
	}
	if n := a.b.Stats().Sessions; n != 0 {
		t.Fatalf("a still holds %d sessions", n)
	}
	// c also holds the publisher's session.
	if nb, nc := b.b.Stats().Sessions, c.b.Stats().Sessions-1; nb+nc != sessions || nb == 0 || nc == 0 {
		t.Fatalf("b holds %d sessions and c %d, want %d spread over both", nb, nc, sessions)
	}
	for i := range sessions {
		publishN(t, pub, "h/"+strconv.Itoa(i), 5, 5)
	}
	for i := range sessions {
		x := []*testNode{b, c}[i%2] // wherever the client comes back
		s := mustConnect(t, x, "h"+strconv.Itoa(i), persistent)
		if !s.ack.SessionPresent {
			t.Fatalf("h%d: session present not set on %s", i, x.name)
		}
		// The connected half may have received some of the first five
		// before the hand-off; each message still arrives in order.
		if i%2 == 0 {
			expectInOrder(t, s, 10)
		} else {
			m := s.next(t)
			v, _ := strconv.Atoi(string(m.Payload))
			expectInOrderFrom(t, s, v+1, 10)
		}
	}
}

// TestHandOffMovesPendingWill: an offline session whose will waits for its
// delay is handed off; the adopting node publishes the will once, when
// the delay has passed, and the handing-off node does not.
func TestHandOffMovesPendingWill(t *testing.T) {
	_, nodes := three(t)
	a, c := nodes[0], nodes[2]
	watch := dial(t, c, "watcher")
	watch.sub(t, "will/#", 1)
	const delay = 2
	s := mustConnect(t, a, "away", connectOpts{clean: true, expiry: 3600, willTo: "will/away", willWait: delay})
	s.drop() // no DISCONNECT: the will waits for its delay
	dropped := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitFor)
	defer cancel()
	if err := a.c.HandOff(ctx); err != nil {
		t.Fatal(err)
	}
	if n := a.b.Stats().Sessions; n != 0 {
		t.Fatalf("a still holds %d sessions", n)
	}
	m := watch.expect(t)
	if string(m.Payload) != "gone:away" {
		t.Fatalf("got %q", m.Payload)
	}
	if d := time.Since(dropped); d < delay*time.Second {
		t.Fatalf("the will came %s after the connection dropped, before its %ds delay", d, delay)
	}
	// Once: a second copy would follow the first on the same path.
	watch.pub(t, "will/marker", "end", 1)
	if m := watch.expect(t); string(m.Payload) != "end" {
		t.Fatalf("got %q after the will, want the marker", m.Payload)
	}
}
