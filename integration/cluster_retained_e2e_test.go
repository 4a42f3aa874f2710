package integration

// Retained messages across three `jmqx` processes: a set or clear on one
// node is given to new subscribers on every node, a node that was down
// when it happened has it once it runs again, and concurrent sets of one
// topic on two nodes end with the same value everywhere.

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

var retainedProbes atomic.Int64

// retainedVia subscribes a new MQTT 5 client of node id to filter and
// returns the retained messages it gets: those that arrive before a live
// marker published after the SUBACK.
func (dc *dataCluster) retainedVia(t *testing.T, id, filter string) map[string]string {
	t.Helper()
	dc.mu.Lock()
	addr := dc.mqtt[id]
	dc.mu.Unlock()
	probe := fmt.Sprintf("probe-%s-%d", id, retainedProbes.Add(1))
	c := dialV5(t, &node{addr: addr}, probe)
	defer c.drop()
	c.subscribe(filter, 1)
	c.subscribe("marker/"+probe, 1)
	c.publish("marker/"+probe, "end", 1, false)
	got := map[string]string{}
	timeout := time.After(waitFor)
	for {
		select {
		case m := <-c.msgs:
			if m.Topic == "marker/"+probe {
				return got
			}
			if !m.Retain {
				t.Fatalf("%s: %s without the retain flag", probe, m)
			}
			got[m.Topic] = m.Payload
		case <-timeout:
			t.Fatalf("%s: no marker", probe)
		}
	}
}

// waitRetainedEverywhere waits until a new subscriber of filter on every
// node gets exactly want.
func (dc *dataCluster) waitRetainedEverywhere(t *testing.T, filter string, want map[string]string) {
	t.Helper()
	for _, id := range dc.ids {
		eventually(t, 2*waitFor, func() error {
			if got := dc.retainedVia(t, id, filter); !maps.Equal(got, want) {
				return fmt.Errorf("a new subscriber of %s on %s got %v, want %v", filter, id, got, want)
			}
			return nil
		})
	}
}

func TestClusterRetained(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "retained")
	a, b, c := dc.ids[0], dc.ids[1], dc.ids[2]

	// Set on A (MQTT 5) and on B (3.1.1): seen on every node.
	pa := dc.dial(t, a, "pub-a", true)
	pb := dc.dial(t, b, "pub-b", false)
	pa.v5.publish("dev/a", "set-on-a", 1, true)
	pb.v3.publish("dev/b", "set-on-b", 1, true)
	dc.waitRetainedEverywhere(t, "dev/#", map[string]string{"dev/a": "set-on-a", "dev/b": "set-on-b"})

	// Cleared on A: gone everywhere.
	pa.v5.publish("dev/b", "", 1, true)
	dc.waitRetainedEverywhere(t, "dev/#", map[string]string{"dev/a": "set-on-a"})

	// C killed; a set on A and a clear on B meanwhile; C restarted has both.
	victim := dc.byID[c]
	_ = victim.stop(syscall.SIGKILL)
	pa.v5.publish("dev/c", "while-c-down", 1, true)
	pb.v3.publish("dev/a", "", 1, true)
	dc.restart(t, c)
	dc.waitRetainedEverywhere(t, "dev/#", map[string]string{"dev/c": "while-c-down"})

	// Concurrent sets of the same topics on A and B converge.
	const topics, rounds = 10, 50
	var wg sync.WaitGroup
	for _, id := range []string{a, b} {
		p := dc.dial(t, id, "race-"+id, true)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for k := range topics {
					ctx, cancel := context.WithTimeout(context.Background(), waitFor)
					_, err := p.v5.Publish(ctx, &paho.Publish{Topic: "race/" + strconv.Itoa(k), Payload: []byte(fmt.Sprintf("%s-%d", id, r)),
						QoS: 1, Retain: true})
					cancel()
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	var first map[string]string
	eventually(t, 2*waitFor, func() error {
		first = dc.retainedVia(t, a, "race/#")
		for _, id := range dc.ids[1:] {
			if got := dc.retainedVia(t, id, "race/#"); !maps.Equal(got, first) {
				return fmt.Errorf("%s has %v, %s %v", id, got, a, first)
			}
		}
		return nil
	})
	if len(first) != topics {
		t.Fatalf("%d race topics retained, want %d: %v", len(first), topics, first)
	}
	last := map[string]bool{fmt.Sprintf("%s-%d", a, rounds-1): true, fmt.Sprintf("%s-%d", b, rounds-1): true}
	won := map[string]int{}
	for topic, v := range first {
		if !last[v] {
			t.Errorf("%s converged on %q, not a node's last set", topic, v)
		}
		won[v]++
	}
	t.Logf("concurrent sets of %d topics on %s and %s (%d rounds): every node holds the same; last sets won %v", topics, a, b, rounds, won)
}

// gossipAddrRe finds the gossip address a node logged when it started.
var gossipAddrRe = regexp.MustCompile(`"msg":"cluster data plane started"[^}]*"gossip":"([^"]+)"`)

// restart starts node id again after it was stopped, on the gossip address
// it had (memberlist refuses a dead member's name from another address),
// and waits until every node is linked to every other and the tenant is
// served everywhere.
func (dc *dataCluster) restart(t *testing.T, id string) {
	t.Helper()
	n := dc.byID[id]
	found := gossipAddrRe.FindAllStringSubmatch(n.log(), -1)
	if len(found) == 0 {
		t.Fatalf("%s logged no gossip address", id)
	}
	n.extra = append(n.extra, "--gossip-addr", found[len(found)-1][1])
	n.start(false)
	for _, x := range dc.ids {
		dc.waitLinked(t, x, dc.ids, 30*time.Second)
	}
	addrs := waitTenantMQTT(t, dc.byID[dc.ids[0]].admin, dc.tenant, len(dc.ids), 15*time.Second)
	dc.mu.Lock()
	dc.mqtt = addrs
	dc.mu.Unlock()
}
