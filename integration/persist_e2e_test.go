package integration

// End-to-end tests of durable sessions and retained messages
// (limits.persistence) with the real binary: a `jmqx serve` node killed
// (SIGKILL) or stopped (SIGTERM) while publishers send numbered QoS 1
// messages to offline persistent subscribers, then restarted on the same
// data folder. They use cli_e2e_test.go's harness.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Timing of the crash tests.
const (
	// crashStoreInterval is the nodes' --store-interval: what the default
	// mode may lose in a crash.
	crashStoreInterval = 500 * time.Millisecond
	// crashMargin is added to the store interval for the loss a crash
	// may cause in the default mode: the last batch taken before the
	// kill may still be being written (a write and its fsync, on a
	// machine shared with other tests).
	crashMargin = time.Second
	// crashRun is how long the publishers run before the kill: several
	// times the window, so that a store that kept nothing fails.
	crashRun = 3 * time.Second
	// crashPace is the least time between two messages of one publisher,
	// which bounds the stream (to about 1500 messages a publisher).
	crashPace = 2 * time.Millisecond
)

// persistNode starts a single node with --store-interval
// crashStoreInterval on a port range of its own.
func persistNode(t *testing.T) *cliNode {
	t.Helper()
	n := newCLINode(t, "n1", "")
	n.extra = []string{"--store-interval", crashStoreInterval.String()}
	ownPorts(n)
	n.start(false)
	return n
}

// createPersistTenant creates an anonymous tenant with more flags and
// returns its MQTT address on n.
func createPersistTenant(t *testing.T, n *cliNode, name string, flags ...string) string {
	t.Helper()
	mustCLI(t, n.admin, "", append([]string{"tenant", "create", name, "--allow-anonymous", "--ws-port", "off", "--json"}, flags...)...)
	return waitTenantMQTT(t, n.admin, name, 1, 10*time.Second)[n.id]
}

// restart stops n with sig, starts it again on its data folder and
// returns the MQTT address of tenant name (the same port: a port hint).
func (n *cliNode) restart(sig syscall.Signal, name string) string {
	n.t.Helper()
	_ = n.stop(sig) // a killed node's Wait error is expected
	n.start(false)
	return waitTenantMQTT(n.t, n.admin, name, 1, 10*time.Second)[n.id]
}

// seqPublisher publishes numbered QoS 1 messages ("1", "2", ...) on one
// topic, one at a time, and records when each PUBACK came.
type seqPublisher struct {
	c     *v5Client
	topic string
	mu    sync.Mutex
	acked []time.Time // acked[i]: message i+1's PUBACK
	done  chan struct{}
}

// startSeqPublisher connects a publisher to addr and starts it; it stops
// at the first failed publish (the node went away) or when stop closes.
func startSeqPublisher(t *testing.T, addr, id, topic string, stop <-chan struct{}) *seqPublisher {
	p := &seqPublisher{c: dialV5(t, &node{addr: addr}, id), topic: topic, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		pace := time.NewTicker(crashPace)
		defer pace.Stop()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			r, err := p.c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(strconv.Itoa(i)), QoS: 1})
			cancel()
			if err != nil || r == nil || r.ReasonCode >= 0x80 {
				return
			}
			p.mu.Lock()
			p.acked = append(p.acked, time.Now())
			p.mu.Unlock()
		}
	}()
	return p
}

// acks returns the PUBACK times so far.
func (p *seqPublisher) acks() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked)
}

// seqLoss checks what a subscriber received of p's messages (got, in
// arrival order, up to a sentinel): strictly increasing numbers, none
// beyond the one p may have sent unacknowledged, and every acknowledged
// one unless window > 0, when only those acknowledged less than window
// before killed may be missing. It returns how many acknowledged
// messages are missing.
func seqLoss(t *testing.T, who string, got []msg, p *seqPublisher, killed time.Time, window time.Duration) int {
	t.Helper()
	acks := p.acks()
	seen := map[int]bool{}
	last := 0
	for _, m := range got {
		if m.Topic != p.topic {
			continue
		}
		i, err := strconv.Atoi(m.Payload)
		if err != nil || i <= last || i > len(acks)+1 {
			t.Fatalf("%s: %s message %q after %d (%d acknowledged): out of order, repeated or never sent", who, p.topic, m.Payload, last, len(acks))
		}
		seen[i], last = true, i
	}
	var lost []int
	for i := 1; i <= len(acks); i++ {
		if !seen[i] {
			lost = append(lost, i)
		}
	}
	if len(lost) == 0 {
		return 0
	}
	oldest := killed.Sub(acks[lost[0]-1])
	t.Logf("%s: %d of %d acknowledged %s messages lost (%d to %d); the oldest was acknowledged %v before the kill",
		who, len(lost), len(acks), p.topic, lost[0], lost[len(lost)-1], oldest.Round(time.Millisecond))
	if window == 0 {
		t.Errorf("%s: %d acknowledged messages lost, want none", who, len(lost))
	}
	for _, i := range lost {
		if age := killed.Sub(acks[i-1]); age > window {
			t.Errorf("%s: message %d of %s, acknowledged %v before the kill, lost: beyond the window of %v", who, i, p.topic, age, window)
			break
		}
	}
	return len(lost)
}

// TestPersistCrash: persistent subscribers (MQTT 5 with a session expiry,
// 3.1.1 with clean session false) subscribe at QoS 1 and go offline;
// two publishers send numbered QoS 1 messages; the node is killed
// (SIGKILL) or stopped (SIGTERM) mid-stream and restarted on its data
// folder. With persistence sync (switched to from the default on the
// running tenant with tenant update) every acknowledged message is delivered
// after a kill, in order; with the default, at most those acknowledged
// in the last store interval (plus a margin) are lost, and the test
// reports how many. A clean stop loses nothing in either mode. Retained
// messages set before survive. Not parallel: it measures a time window.
func TestPersistCrash(t *testing.T) {
	for _, c := range []struct {
		mode string
		sig  syscall.Signal
	}{{"sync", syscall.SIGKILL}, {"default", syscall.SIGKILL}, {"sync", syscall.SIGTERM}, {"default", syscall.SIGTERM}} {
		t.Run(c.mode+"-"+c.sig.String(), func(t *testing.T) {
			window := time.Duration(0) // no loss allowed
			if c.mode == "default" && c.sig == syscall.SIGKILL {
				window = crashStoreInterval + crashMargin
			}
			testPersistCrash(t, c.mode, c.sig, window)
		})
	}
}

func testPersistCrash(t *testing.T, mode string, sig syscall.Signal, window time.Duration) {
	n := persistNode(t)
	addr := createPersistTenant(t, n, "crash", "--max-queued-messages", "1000000")
	if mode != "default" { // a running tenant switches at once
		mustCLI(t, n.admin, "", "tenant", "update", "crash", "--persistence", mode)
		eventually(t, 10*time.Second, func() error {
			if !n.logHas(`"msg":"tenant updated","tenant":"crash"`) {
				return errors.New("the node has not applied the update")
			}
			return nil
		})
	}
	at := &node{addr: addr}
	sub5 := dialV5(t, at, "sub5", sessionExpiry(3600))
	sub5.subscribe("seq/#", 1)
	closeV5(sub5)
	sub3 := dialV311(t, at, "sub3", func(o *mqttOptions) { o.SetCleanSession(false) })
	sub3.subscribe("seq/#", 1)
	sub3.Disconnect(250)
	retainer := dialV5(t, at, "retainer")
	retainer.publish("ret/early", "e", 1, true)

	stop := make(chan struct{})
	began := time.Now()
	pubs := []*seqPublisher{startSeqPublisher(t, addr, "p1", "seq/p1", stop), startSeqPublisher(t, addr, "p2", "seq/p2", stop)}
	// Wall time must pass: the stream has to span several store
	// intervals, so that a store that kept nothing fails the loss check.
	eventually(t, crashRun+10*time.Second, func() error {
		if a, b := len(pubs[0].acks()), len(pubs[1].acks()); time.Since(began) < crashRun || a < 20 || b < 20 {
			return fmt.Errorf("%v of publishing, %d and %d acknowledged", time.Since(began), a, b)
		}
		return nil
	})
	retainer.publish("ret/late", "l", 1, true)
	killed := time.Now()
	addr = n.restart(sig, "crash")
	close(stop)
	for _, p := range pubs {
		<-p.done
	}

	at = &node{addr: addr}
	sub5 = dialV5(t, at, "sub5", cleanStart(false), sessionExpiry(3600))
	if !sub5.connack.SessionPresent {
		t.Fatal("sub5: no session after the restart")
	}
	sub3 = dialV311(t, at, "sub3", func(o *mqttOptions) { o.SetCleanSession(false) })
	dialV5(t, at, "ender").publish("seq/end", "end", 1, false)
	lost := 0
	for _, s := range []struct {
		who string
		ch  chan msg
	}{{"v5 subscriber", sub5.msgs}, {"3.1.1 subscriber", sub3.msgs}} {
		got := collectUntil(t, s.ch, "end")
		for _, p := range pubs {
			lost += seqLoss(t, s.who, got, p, killed, window)
		}
	}
	t.Logf("persistence %s, %v: %d and %d messages acknowledged before the stop, %d acknowledged deliveries lost",
		mode, sig, len(pubs[0].acks()), len(pubs[1].acks()), lost)
	checkRetained(t, at, map[string]bool{"ret/early": true, "ret/late": window == 0})
}

// checkRetained subscribes to ret/# on at and checks that the retained
// messages marked true in want are there (those marked false may be).
func checkRetained(t *testing.T, at *node, want map[string]bool) {
	t.Helper()
	c := dialV5(t, at, "retained-reader")
	c.subscribe("ret/#", 1)
	dialV5(t, at, "retained-end").publish("ret/zz-end", "end", 1, false)
	have := map[string]bool{}
	for _, m := range collectUntil(t, c.msgs, "end") {
		have[m.Topic] = m.Retain
	}
	for topic, must := range want {
		if must && !have[topic] {
			t.Errorf("retained message %s missing after the restart (have %v)", topic, have)
		}
	}
}

// storeFile is the store file of tenant name in n's data folder.
func storeFile(n *cliNode, name string) string {
	return filepath.Join(n.dataDir, "store", name+".db")
}
