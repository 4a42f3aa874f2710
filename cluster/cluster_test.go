package cluster

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jmqx/jmqx/internal/testwait"
)

// TestMain checks for leaks. memberlist v0.6.0's probeNode outlives its
// Shutdown by up to a probe interval (it waits on its own timer).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// three starts three nodes on 127.0.0.1, .2 and .3 and waits for the mesh.
func three(t *testing.T, tune ...func(*Config)) (*testNet, []*testNode) {
	n := &testNet{t: t}
	nodes := []*testNode{n.start("n1", "127.0.0.1", tune...), n.start("n2", "127.0.0.2", tune...), n.start("n3", "127.0.0.3", tune...)}
	n.waitMesh(nodes...)
	return n, nodes
}

// TestEveryNodeGetsEveryMessage: a subscriber on each node gets every
// message published on any node, at QoS 0, 1 and 2, in order.
func TestEveryNodeGetsEveryMessage(t *testing.T) {
	_, nodes := three(t)
	subs := make([]*client, len(nodes))
	for i, x := range nodes {
		subs[i] = dial(t, x, "sub-"+x.name)
		subs[i].sub(t, "room/#", 2)
	}
	for qos := byte(0); qos <= 2; qos++ {
		for i, x := range nodes {
			p := dial(t, x, fmt.Sprintf("pub-%s-%d", x.name, qos))
			for k := range 20 {
				p.pub(t, "room/"+x.name, fmt.Sprintf("%d/%d/%d", qos, i, k), qos)
			}
		}
		for s, sub := range subs {
			next := make([]int, len(nodes))
			for range 20 * len(nodes) {
				m := sub.expect(t)
				var q, i, k int
				if _, err := fmt.Sscanf(string(m.Payload), "%d/%d/%d", &q, &i, &k); err != nil || q != int(qos) {
					t.Fatalf("sub %d: unexpected %q", s, m.Payload)
				}
				if k != next[i] {
					t.Fatalf("sub %d: from node %d got #%d, want #%d (order)", s, i, k, next[i])
				}
				next[i]++
				if m.QoS != qos {
					t.Fatalf("sub %d: QoS %d, want %d", s, m.QoS, qos)
				}
			}
		}
	}
	for _, x := range nodes {
		st, _ := x.c.Stats("t")
		for peer, ps := range st.Peers {
			if ps.ForwardedOut == 0 || ps.ForwardedIn == 0 || ps.Routes != 1 {
				t.Errorf("%s with %s: %+v", x.name, peer, ps)
			}
		}
	}
}

// TestSubscribeThenPublishElsewhere: a SUBACK means every node has the
// route, so a publish on another node right after it is never missed.
func TestSubscribeThenPublishElsewhere(t *testing.T) {
	_, nodes := three(t)
	sub := dial(t, nodes[1], "sub")
	pub := dial(t, nodes[0], "pub")
	rounds := 1000
	if testing.Short() {
		rounds = 50
	}
	for i := range rounds {
		topic := "fresh/" + strconv.Itoa(i)
		sub.sub(t, topic, 1)
		pub.pub(t, topic, strconv.Itoa(i), 1)
		if m := sub.expect(t); string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("round %d: got %q", i, m.Payload)
		}
	}
	if n := nodes[1].c.NodeStats().SubackTimeouts; n != 0 {
		t.Errorf("%d SUBACKs went before the route was acknowledged", n)
	}
}

// TestUnsubscribeStopsForwards: a filter unsubscribed on a node is no
// longer forwarded to it.
func TestUnsubscribeStopsForwards(t *testing.T) {
	_, nodes := three(t)
	sub := dial(t, nodes[1], "sub")
	sub.sub(t, "a/b", 1)
	sub.sub(t, "sentinel", 1)
	pub := dial(t, nodes[0], "pub")
	pub.pub(t, "a/b", "1", 1)
	if m := sub.expect(t); string(m.Payload) != "1" {
		t.Fatalf("got %q", m.Payload)
	}
	sub.unsub(t, "a/b")
	testwait.Until(t, waitFor, func() error {
		st, _ := nodes[0].c.Stats("t")
		if st.Peers["n2"].Routes != 1 {
			return fmt.Errorf("n1 holds %d routes of n2", st.Peers["n2"].Routes)
		}
		return nil
	})
	before, _ := nodes[0].c.Stats("t")
	pub.pub(t, "a/b", "2", 1)
	pub.pub(t, "sentinel", "end", 1)
	if m := sub.expect(t); string(m.Payload) != "end" {
		t.Fatalf("got %q after unsubscribing", m.Payload)
	}
	after, _ := nodes[0].c.Stats("t")
	if d := after.Peers["n2"].ForwardedOut - before.Peers["n2"].ForwardedOut; d != 1 {
		t.Errorf("%d forwards to n2, want 1 (the sentinel)", d)
	}
}

// TestDetachDropsRoutes: a tenant removed from a node drops its routes
// everywhere.
func TestDetachDropsRoutes(t *testing.T) {
	_, nodes := three(t)
	sub := dial(t, nodes[2], "sub")
	sub.sub(t, "x/#", 0)
	testwait.Until(t, waitFor, func() error {
		for _, x := range nodes[:2] {
			if st, _ := x.c.Stats("t"); st.RemoteRoutes != 1 {
				return fmt.Errorf("%s holds %d routes", x.name, st.RemoteRoutes)
			}
		}
		return nil
	})
	nodes[2].c.Detach("t")
	testwait.Until(t, waitFor, func() error {
		for _, x := range nodes[:2] {
			if st, _ := x.c.Stats("t"); st.RemoteRoutes != 0 {
				return fmt.Errorf("%s still holds %d routes", x.name, st.RemoteRoutes)
			}
		}
		return nil
	})
}

// TestDeadNodeRoutesGo: a node that stops loses its routes on the others,
// and a publisher there is not held back by it.
func TestDeadNodeRoutesGo(t *testing.T) {
	_, nodes := three(t)
	sub := dial(t, nodes[2], "sub")
	sub.sub(t, "x/#", 1)
	start := time.Now()
	nodes[2].stop(t)
	testwait.Until(t, waitFor, func() error {
		for _, x := range nodes[:2] {
			if st, _ := x.c.Stats("t"); st.RemoteRoutes != 0 {
				return fmt.Errorf("%s still holds %d routes", x.name, st.RemoteRoutes)
			}
		}
		return nil
	})
	t.Logf("routes of a node that left gone after %s", time.Since(start))
	pub := dial(t, nodes[0], "pub")
	pub.pub(t, "x/y", "after", 1)
}
