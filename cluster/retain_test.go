package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// retainedOn returns x's retained payload of topic ("" and false: none).
func retainedOn(x *testNode, topic string) (string, bool) {
	m, ok := x.b.RetainedMessage(topic)
	return string(m.Payload), ok
}

// waitRetained waits until every node's retained message of topic is want
// ("" for none).
func waitRetained(t *testing.T, nodes []*testNode, topic, want string) {
	t.Helper()
	testwait.Until(t, waitFor, func() error {
		for _, x := range nodes {
			if got, _ := retainedOn(x, topic); got != want {
				return fmt.Errorf("%s retains %q on %s, want %q", x.name, got, topic, want)
			}
		}
		return nil
	})
}

// retainedAtSubscribe subscribes a new client of x to filter and returns
// the retained messages it gets (those before a live marker published
// after the SUBACK, so that none is missed and nothing is waited for).
func retainedAtSubscribe(t *testing.T, x *testNode, id, filter string) map[string]string {
	t.Helper()
	c := dial(t, x, id)
	c.sub(t, filter, 1)
	c.sub(t, "marker/"+id, 1)
	c.pub(t, "marker/"+id, "end", 1)
	got := map[string]string{}
	for {
		m := c.expect(t)
		if m.Topic == "marker/"+id {
			return got
		}
		if !m.Retain {
			t.Fatalf("%s: %s without the retain flag", id, m.Topic)
		}
		got[m.Topic] = string(m.Payload)
	}
}

func retainPub(t *testing.T, c *client, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: 1, Retain: true}); err != nil {
		t.Fatalf("publish retained %s: %v", topic, err)
	}
}

// TestRetainedSetAndClearEverywhere: a retained message set on one node
// (by a client, or in-process) is given to new subscribers on every node;
// a clear on another node removes it everywhere.
func TestRetainedSetAndClearEverywhere(t *testing.T) {
	_, nodes := three(t)
	pub := dial(t, nodes[0], "pub")
	retainPub(t, pub, "dev/1/state", "on")
	if err := nodes[2].b.Publish("dev/2/state", []byte("idle"), broker.PublishOptions{Retain: true, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	waitRetained(t, nodes, "dev/1/state", "on")
	waitRetained(t, nodes, "dev/2/state", "idle")
	for i, x := range nodes {
		got := retainedAtSubscribe(t, x, "new-"+strconv.Itoa(i), "dev/+/state")
		if got["dev/1/state"] != "on" || got["dev/2/state"] != "idle" || len(got) != 2 {
			t.Errorf("a new subscriber on %s got %v", x.name, got)
		}
	}

	clearer := dial(t, nodes[1], "clearer")
	retainPub(t, clearer, "dev/1/state", "")
	waitRetained(t, nodes, "dev/1/state", "")
	for i, x := range nodes {
		got := retainedAtSubscribe(t, x, "after-"+strconv.Itoa(i), "dev/+/state")
		if len(got) != 1 || got["dev/2/state"] != "idle" {
			t.Errorf("after the clear, a new subscriber on %s got %v", x.name, got)
		}
	}
}

// TestRetainedWillEverywhere: a retained will is in every node's store.
func TestRetainedWillEverywhere(t *testing.T) {
	_, nodes := three(t)
	conn, err := net.Dial("tcp", nodes[1].mqtt)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: waitFor})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "dev", CleanStart: true, KeepAlive: 30, WillMessage: &paho.WillMessage{
		Topic: "dev/status", Payload: []byte("gone"), QoS: 1, Retain: true}}); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close() // not a DISCONNECT: the will is published
	waitRetained(t, nodes, "dev/status", "gone")
}

// TestRetainedRepairedAfterPartition: a node whose links are cut misses a
// set and a clear, and gets both once they heal; a node stopped misses a
// set and has it after it starts again.
func TestRetainedRepairedAfterPartition(t *testing.T) {
	faults := map[string]*linkFaults{}
	n, nodes := three(t, func(cfg *Config) { faults[cfg.Name] = injectFaults(cfg) })
	a, c := nodes[0], nodes[2]
	if err := a.b.Publish("cfg/old", []byte("v1"), broker.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	waitRetained(t, nodes, "cfg/old", "v1")

	faults["n3"].set(cut)
	testwait.Until(t, waitFor, func() error { // n1 has lost its link to n3
		for _, m := range a.c.Members() {
			if m.Name == "n3" && m.Link == "up" {
				return errors.New("n1's link to n3 still up")
			}
		}
		return nil
	})
	if err := a.b.Publish("cfg/new", []byte("v2"), broker.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].b.Publish("cfg/old", nil, broker.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	waitRetained(t, nodes[:2], "cfg/new", "v2")
	waitRetained(t, nodes[:2], "cfg/old", "")
	if got, _ := retainedOn(c, "cfg/old"); got != "v1" {
		t.Fatalf("n3 retains %q on cfg/old while cut off, want v1 still", got)
	}
	faults["n3"].set(healthy)
	n.waitMesh(nodes...)
	waitRetained(t, nodes, "cfg/new", "v2")
	waitRetained(t, nodes, "cfg/old", "")

	c.stop(t)
	if err := a.b.Publish("cfg/late", []byte("v3"), broker.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	n.boot(c)
	n.waitMesh(nodes...)
	waitRetained(t, nodes, "cfg/late", "v3")
	waitRetained(t, nodes, "cfg/new", "v2")
	if got := retainedAtSubscribe(t, c, "late", "cfg/#"); len(got) != 2 || got["cfg/late"] != "v3" {
		t.Errorf("a new subscriber on the restarted n3 got %v", got)
	}
}

// TestRetainedConcurrentSetsConverge: two nodes setting the same topics at
// once end with the same value of each on every node.
func TestRetainedConcurrentSetsConverge(t *testing.T) {
	_, nodes := three(t)
	const topics, rounds = 20, 50
	var wg sync.WaitGroup
	for _, x := range nodes[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for k := range topics {
					payload := fmt.Sprintf("%s-%d", x.name, r)
					if err := x.b.Publish("race/"+strconv.Itoa(k), []byte(payload), broker.PublishOptions{Retain: true}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	testwait.Until(t, waitFor, func() error {
		for k := range topics {
			topic := "race/" + strconv.Itoa(k)
			first, _ := retainedOn(nodes[0], topic)
			for _, x := range nodes[1:] {
				if got, _ := retainedOn(x, topic); got != first {
					return fmt.Errorf("%s: %s has %q, n1 %q", topic, x.name, got, first)
				}
			}
		}
		return nil
	})
	for k := range topics {
		if got, _ := retainedOn(nodes[0], "race/"+strconv.Itoa(k)); got != "n1-49" && got != "n2-49" {
			t.Errorf("race/%d converged on %q, not the last set of a node", k, got)
		}
	}
	dg := nodes[0].c.tenant("t").retained.digest()
	for _, x := range nodes[1:] {
		if d := x.c.tenant("t").retained.digest(); d != dg {
			t.Errorf("%s's retained digest %x, n1's %x", x.name, d, dg)
		}
	}
}

// TestRetainedLastWriterWins: of two changes the later stamp wins, and of
// equal stamps the origin that sorts last, whatever the order they arrive
// in; a tombstone outlives its TTL only.
func TestRetainedLastWriterWins(t *testing.T) {
	_, nodes := three(t)
	tp := nodes[0].c.tenant("t")
	apply := func(stamp uint64, origin, payload string) {
		pub := &packet.Publish{Topic: "lww", Payload: []byte(payload), Retain: true}
		tp.applyRetained(&retainEntry{topic: "lww", stamp: stamp, origin: origin, set: payload != ""}, pub)
	}
	apply(100, "b", "b100")
	apply(100, "a", "a100")
	if got, _ := retainedOn(nodes[0], "lww"); got != "b100" {
		t.Fatalf("equal stamps: %q won, want b100", got)
	}
	apply(99, "z", "z99")
	apply(100, "c", "")
	if got, ok := retainedOn(nodes[0], "lww"); ok {
		t.Fatalf("the clear at 100 from c lost to %q", got)
	}
	apply(100, "b", "b100") // an older set arriving late stays cleared
	if got, ok := retainedOn(nodes[0], "lww"); ok {
		t.Fatalf("a set older than the tombstone came back: %q", got)
	}
	rs := tp.retained
	rs.expire(time.Now().Add(time.Hour), time.Hour)
	rs.mu.Lock()
	_, kept := rs.meta["lww"]
	rs.mu.Unlock()
	if kept {
		t.Error("the tombstone outlived its TTL")
	}
}

// TestRetainedDriftRepairedByGossip: a node whose copy of the store lost a
// change (as if a frame were lost) gets it back once gossip's digests show
// the difference.
func TestRetainedDriftRepairedByGossip(t *testing.T) {
	_, nodes := three(t)
	if err := nodes[0].b.Publish("drift/x", []byte("kept"), broker.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	waitRetained(t, nodes, "drift/x", "kept")
	c := nodes[2]
	rs := c.c.tenant("t").retained
	rs.mu.Lock() // lose the change on n3
	m := rs.meta["drift/x"]
	rs.hash ^= setHash("drift/x", m.stamp, m.origin)
	delete(rs.meta, "drift/x")
	c.b.ApplyRetained(&packet.Publish{Topic: "drift/x"})
	rs.mu.Unlock()
	waitRetained(t, nodes, "drift/x", "kept")
	if nodes[0].c.retainRepairs.Load()+nodes[1].c.retainRepairs.Load() == 0 {
		t.Error("no repair counted")
	}
}

// TestRetainedQuotaClusterWide: the tenant's retained message quota counts
// the messages retained on every node.
func TestRetainedQuotaClusterWide(t *testing.T) {
	_, nodes := three(t)
	for _, x := range nodes {
		cfg := x.b.Config()
		cfg.MaxRetainedMessages = 2
		if err := x.b.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	retainPub(t, dial(t, nodes[0], "p1"), "q/1", "a")
	retainPub(t, dial(t, nodes[1], "p2"), "q/2", "b")
	waitRetained(t, nodes, "q/1", "a")
	waitRetained(t, nodes, "q/2", "b")
	p3 := dial(t, nodes[2], "p3")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := p3.Publish(ctx, &paho.Publish{Topic: "q/3", Payload: []byte("c"), QoS: 1, Retain: true})
	if resp == nil || resp.ReasonCode != byte(packet.QuotaExceeded) {
		t.Fatalf("a third retained topic on n3: %+v, %v; want quota exceeded", resp, err)
	}
	retainPub(t, p3, "q/1", "replaced") // a replacement does not grow the store
	waitRetained(t, nodes, "q/1", "replaced")
	if _, ok := retainedOn(nodes[0], "q/3"); ok {
		t.Error("q/3 was retained on n1")
	}
}
