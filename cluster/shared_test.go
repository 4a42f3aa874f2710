package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// publishAll publishes payloads prefix/0 .. prefix/n-1 on topic at QoS 1
// from c, several at a time, and returns those acknowledged.
func publishAll(t *testing.T, c *client, topic, prefix string, n int) []string {
	t.Helper()
	const workers = 8
	var mu sync.Mutex
	var acked []string
	var failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				p := fmt.Sprintf("%s/%d", prefix, i)
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				_, err := c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(p), QoS: 1})
				cancel()
				if err != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Logf("%s: %d publishes not acknowledged", prefix, f)
	}
	return acked
}

// tally counts what members received, by payload.
type tally struct {
	mu    sync.Mutex
	seen  map[string]int
	by    map[string]string // payload -> member
	total int
}

// collect counts every message ms get until stop is closed.
func (ty *tally) collect(name string, c *client, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case m := <-c.msgs:
			ty.mu.Lock()
			ty.seen[string(m.Payload)]++
			ty.by[string(m.Payload)] = name
			ty.total++
			ty.mu.Unlock()
		case <-stop:
			return
		}
	}
}

func newTally() *tally { return &tally{seen: map[string]int{}, by: map[string]string{}} }

// waitAll waits until every payload in want has been received.
func (ty *tally) waitAll(t *testing.T, want []string) {
	t.Helper()
	testwait.Until(t, 4*waitFor, func() error {
		ty.mu.Lock()
		defer ty.mu.Unlock()
		for _, p := range want {
			if ty.seen[p] == 0 {
				return fmt.Errorf("%s not received (%d of %d distinct)", p, len(ty.seen), len(want))
			}
		}
		return nil
	})
}

// quiet waits until no node awaits an acknowledgement of a forward, so
// that nothing forwarded is still on its way.
func quiet(t *testing.T, nodes []*testNode) {
	t.Helper()
	testwait.Until(t, waitFor, func() error {
		for _, x := range nodes {
			if x.down {
				continue
			}
			st, _ := x.c.Stats("t")
			for peer, ps := range st.Peers {
				if ps.AwaitingAck != 0 {
					return fmt.Errorf("%s awaits %d acknowledgements of %s", x.name, ps.AwaitingAck, peer)
				}
			}
		}
		return nil
	})
}

// TestSharedExactlyOnceAcrossNodes: 10,000 QoS 1 messages published on
// every node reach exactly one member of a group with a member on each
// node (served where published), and of a group with members on two nodes
// only (spread over them from the third).
func TestSharedExactlyOnceAcrossNodes(t *testing.T) {
	_, nodes := three(t)
	total := 10000
	if testing.Short() {
		total = 1000
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	everywhere, twoNodes := newTally(), newTally()
	for _, x := range nodes {
		m := dial(t, x, "g-"+x.name)
		m.sub(t, "$share/g/work/#", 1)
		wg.Add(1)
		go everywhere.collect(x.name, m, stop, &wg)
	}
	for _, x := range nodes[1:] {
		m := dial(t, x, "h-"+x.name)
		m.sub(t, "$share/h/work/#", 1)
		wg.Add(1)
		go twoNodes.collect(x.name, m, stop, &wg)
	}
	var mu sync.Mutex
	var acked []string
	var pubs sync.WaitGroup
	for i, x := range nodes {
		p := dial(t, x, "pub-"+x.name)
		n := total / len(nodes)
		if i == 0 {
			n += total % len(nodes)
		}
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			got := publishAll(t, p, "work/"+x.name, x.name, n)
			mu.Lock()
			acked = append(acked, got...)
			mu.Unlock()
		}()
	}
	pubs.Wait()
	if len(acked) != total {
		t.Fatalf("%d of %d publishes acknowledged", len(acked), total)
	}
	for name, ty := range map[string]*tally{"g (3 nodes)": everywhere, "h (n2, n3)": twoNodes} {
		ty.waitAll(t, acked)
		quiet(t, nodes)
		ty.mu.Lock()
		per := map[string]int{}
		for p, k := range ty.seen {
			if k != 1 {
				t.Errorf("group %s: %s received %d times", name, p, k)
			}
			per[ty.by[p]]++
		}
		if ty.total != total {
			t.Errorf("group %s: %d deliveries of %d messages", name, ty.total, total)
		}
		ty.mu.Unlock()
		t.Logf("group %s: deliveries per member's node %v", name, per)
		if name == "h (n2, n3)" && (per["n2"] == 0 || per["n3"] == 0) {
			t.Errorf("group %s: not spread over its nodes: %v", name, per)
		}
	}
}

// TestSharedMemberLeavesMidStream: a member that unsubscribes while
// messages for it are on their way leaves every acknowledged message to
// the rest of its group.
func TestSharedMemberLeavesMidStream(t *testing.T) {
	_, nodes := three(t)
	const total = 3000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	ty := newTally()
	members := map[string]*client{}
	for _, x := range nodes[1:] {
		m := dial(t, x, "m-"+x.name)
		m.sub(t, "$share/g/job/#", 1)
		members[x.name] = m
		wg.Add(1)
		go ty.collect(x.name, m, stop, &wg)
	}
	p := dial(t, nodes[0], "pub")
	done := make(chan []string, 1)
	go func() { done <- publishAll(t, p, "job/a", "m", total) }()
	testwait.Until(t, waitFor, func() error {
		ty.mu.Lock()
		defer ty.mu.Unlock()
		if len(ty.seen) < total/4 {
			return errors.New("the stream has not started")
		}
		return nil
	})
	members["n2"].unsub(t, "$share/g/job/#")
	acked := <-done
	if len(acked) < total*9/10 {
		t.Fatalf("only %d of %d publishes acknowledged", len(acked), total)
	}
	ty.waitAll(t, acked)
	quiet(t, nodes)
	st, _ := nodes[1].c.Stats("t")
	t.Logf("%d acknowledged, all received; n2 sent %d on to another member, lost %d", len(acked), st.SharedSentOn, st.SharedLost)
}

// TestSharedSentOnByANodeWithoutMember: a node that gets a forward for a
// group whose member left (the sender did not know yet) sends it on to the
// member on another node.
func TestSharedSentOnByANodeWithoutMember(t *testing.T) {
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) { faults[cfg.Name] = injectFaults(cfg) })
	gone := dial(t, nodes[1], "gone")
	gone.sub(t, "$share/g/task", 1)
	stays := dial(t, nodes[2], "stays")
	stays.sub(t, "$share/g/task", 1)
	plain := []*client{dial(t, nodes[1], "plain-n2"), dial(t, nodes[2], "plain-n3")}
	for _, c := range plain {
		c.sub(t, "task", 1)
	}
	faults["n2"].set(stuck) // n2 hears n1 but cannot tell it of the unsubscribe
	defer faults["n2"].set(healthy)
	gone.unsub(t, "$share/g/task")
	p := dial(t, nodes[0], "pub")
	const n = 10
	done := make(chan []string, 1)
	go func() { done <- publishAll(t, p, "task", "x", n) }()
	testwait.Until(t, waitFor, func() error {
		if st, _ := nodes[1].c.Stats("t"); st.SharedSentOn == 0 {
			return errors.New("n2 sent nothing on")
		}
		return nil
	})
	faults["n2"].set(healthy)
	acked := <-done
	var got []string
	for range acked {
		got = append(got, string(stays.expect(t).Payload))
	}
	if len(got) != n {
		t.Errorf("the member on n3 got %d of %d: %s", len(got), n, strings.Join(got, ","))
	}
	quiet(t, nodes)
	for i, c := range plain { // the message sent on went to the group only
		if k := drained(t, c, n); k != n {
			t.Errorf("the plain subscriber on n%d got %d messages, want %d", i+2, k, n)
		}
	}
}

// drained counts the messages c got: want of them, waited for, and those
// already arrived past them.
func drained(t *testing.T, c *client, want int) int {
	t.Helper()
	for range want {
		c.expect(t)
	}
	k := want
	for {
		select {
		case <-c.msgs:
			k++
		default:
			return k
		}
	}
}

// TestSharedRehomedWhenAPeerLeaves: the forwards a peer had not
// acknowledged when it left go to the group's other member.
func TestSharedRehomedWhenAPeerLeaves(t *testing.T) {
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) { faults[cfg.Name] = injectFaults(cfg) })
	doomed := dial(t, nodes[1], "doomed")
	doomed.sub(t, "$share/g/work", 1)
	stays := dial(t, nodes[2], "stays")
	stays.sub(t, "$share/g/work", 1)
	plain := []*client{dial(t, nodes[0], "plain-n1"), dial(t, nodes[2], "plain-n3")}
	for _, c := range plain {
		c.sub(t, "work", 1)
	}
	faults["n2"].set(cut) // n1's forwards to n2 wait in its queue
	testwait.Until(t, waitFor, func() error {
		for _, m := range nodes[0].c.Members() {
			if m.Name == "n2" && m.Link == "up" {
				return errors.New("n1's link to n2 still up")
			}
		}
		return nil
	})
	p := dial(t, nodes[0], "pub")
	const n = 20
	done := make(chan []string, 1)
	go func() { done <- publishAll(t, p, "work", "w", n) }()
	testwait.Until(t, waitFor, func() error {
		if ps := peerStats(nodes[0], "n2"); ps.AwaitingAck == 0 {
			return errors.New("nothing queued for n2")
		}
		return nil
	})
	nodes[1].stop(t) // leaves: n1 sends what n2 did not acknowledge to n3
	acked := <-done
	if len(acked) != n {
		t.Fatalf("%d of %d publishes acknowledged", len(acked), n)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		seen[string(stays.expect(t).Payload)] = true
	}
	if st, _ := nodes[0].c.Stats("t"); st.SharedSentOn == 0 {
		t.Error("n1 counted nothing sent on")
	}
	quiet(t, []*testNode{nodes[0], nodes[2]})
	for i, c := range plain { // what was sent on went to the group only
		if k := drained(t, c, n); k != n {
			t.Errorf("a plain subscriber (%d) got %d messages, want %d", i, k, n)
		}
	}
}

// TestSharedServedByWhatTheDeliveryDid: the publishing node forwards a
// message for a shared group unless its own delivery reached a member,
// whatever its routes say (a member joining meanwhile).
func TestSharedServedByWhatTheDeliveryDid(t *testing.T) {
	_, nodes := three(t)
	here := dial(t, nodes[0], "here")
	here.sub(t, "$share/g/x", 1)
	there := dial(t, nodes[1], "there")
	there.sub(t, "$share/g/x", 1)
	tp := nodes[0].c.tenant("t")
	pub := &packet.Publish{Topic: "x", Payload: []byte("not served here"), QoS: 0}
	if fwd, _ := tp.ForwardShared(pub, nil, nil); !fwd {
		t.Fatal("a message no local member got was not forwarded")
	}
	if m := there.expect(t); string(m.Payload) != "not served here" {
		t.Fatalf("n2's member got %q", m.Payload)
	}
	pub.Payload = []byte("served here")
	if fwd, _ := tp.ForwardShared(pub, nil, []broker.SharedGroup{{Name: "g", Filter: "x"}}); fwd {
		t.Fatal("a message a local member got was forwarded too")
	}
}

// TestSharedSpreadByMembers: a node forwards a group's messages to the
// nodes with members in proportion to their members, so that each member
// gets its share; the counts follow members leaving too.
func TestSharedSpreadByMembers(t *testing.T) {
	_, nodes := three(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	ty := newTally()
	one := dial(t, nodes[1], "one")
	one.sub(t, "$share/g/spread", 1)
	wg.Add(1)
	go ty.collect("n2", one, stop, &wg)
	var three []*client
	for i := range 3 {
		m := dial(t, nodes[2], "three-"+strconv.Itoa(i))
		m.sub(t, "$share/g/spread", 1)
		three = append(three, m)
		wg.Add(1)
		go ty.collect("n3", m, stop, &wg)
	}
	waitMembers := func(n uint64) {
		t.Helper()
		testwait.Until(t, waitFor, func() error {
			r := nodes[0].c.remoteFor("t")
			r.mu.Lock()
			defer r.mu.Unlock()
			if v := r.peers["n3"]; v == nil || v.filters["$share/g/spread"] != n {
				return fmt.Errorf("n1 does not know of n3's %d members", n)
			}
			return nil
		})
	}
	waitMembers(3)
	p := dial(t, nodes[0], "pub")
	const n = 400
	acked := publishAll(t, p, "spread", "a", n)
	ty.waitAll(t, acked)
	count := func() map[string]int {
		ty.mu.Lock()
		defer ty.mu.Unlock()
		per := map[string]int{}
		for _, node := range ty.by {
			per[node]++
		}
		return per
	}
	if per := count(); per["n2"] != n/4 || per["n3"] != 3*n/4 {
		t.Errorf("1 member on n2, 3 on n3: %v of %d, want %d and %d", per, n, n/4, 3*n/4)
	}
	three[0].unsub(t, "$share/g/spread")
	three[1].unsub(t, "$share/g/spread")
	waitMembers(1)
	acked = publishAll(t, p, "spread", "b", n)
	ty.waitAll(t, acked)
	if per := count(); per["n2"] != n/4+n/2 || per["n3"] != 3*n/4+n/2 {
		t.Errorf("then 1 member on each: %v, want %d and %d in all", per, n/4+n/2, 3*n/4+n/2)
	}
}
