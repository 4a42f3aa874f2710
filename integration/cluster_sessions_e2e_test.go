package integration

// End-to-end tests of sessions across nodes: three `jmqx serve` processes
// (127.0.0.1, .2, .3) serving one tenant. A client id has one session in
// the cluster: connecting on another node moves it there (queued and
// unacknowledged messages in order, session present), takes over a live
// connection (0x8E; 3.1.1: closed), and a will fires once when the node
// holding the session is SIGKILLed, unless the client came back elsewhere.

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestClusterSessions(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "sessions")
	t.Run("queued messages move", func(t *testing.T) { testSessionQueuedMove(t, dc) })
	t.Run("inflight window moves", func(t *testing.T) { testSessionInflightMove(t, dc) })
	t.Run("takeover of a live connection", func(t *testing.T) { testSessionTakeoverV5(t, dc) })
	t.Run("takeover of a 3.1.1 connection", func(t *testing.T) { testSessionTakeoverV311(t, dc) })
	t.Run("racing connections", func(t *testing.T) { testSessionRace(t, dc) })
}

// 200 rounds of one client id connecting on two nodes at once end each
// time with exactly one live connection; the other is told 0x8E.
func testSessionRace(t *testing.T, dc *dataCluster) {
	a, b := dc.ids[0], dc.ids[1]
	for round := range 200 {
		id := "racer-" + strconv.Itoa(round)
		conns := make([]*v5Client, 2)
		var wg sync.WaitGroup
		for i, x := range []string{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c, err := connectV5(t, dc.addr(x), id, sessionExpiry(60)); err == nil {
					conns[i] = c
				}
			}()
		}
		wg.Wait()
		live := func() (n int) {
			for _, c := range conns {
				if c != nil && connUp(c) {
					n++
				}
			}
			return n
		}
		eventually(t, waitFor, func() error {
			if n := live(); n != 1 {
				return fmt.Errorf("round %d: %d live connections", round, n)
			}
			return nil
		})
		for _, c := range conns {
			if c != nil && !connUp(c) {
				if d := c.expectServerDisconnect(); d.ReasonCode != 0x8E {
					t.Fatalf("round %d: the loser was told 0x%02x", round, d.ReasonCode)
				}
			}
		}
		for _, c := range conns {
			if c != nil && connUp(c) {
				_ = c.Disconnect(&paho.Disconnect{})
				<-c.Done()
			}
		}
	}
}

// connUp reports whether c's connection is still up.
func connUp(c *v5Client) bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// addr returns the tenant's MQTT address on node id.
func (dc *dataCluster) addr(id string) *node {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return &node{addr: dc.mqtt[id]}
}

// manualAck makes an MQTT 5 client acknowledge nothing by itself.
func manualAck() v5Option {
	return func(cfg *paho.ClientConfig, _ *paho.Connect) { cfg.EnableManualAcknowledgment = true }
}

// publishSeq publishes payloads from..from+n-1 to topic at QoS 1 from c.
func publishSeq(t *testing.T, c *v5Client, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if rc := c.publish(topic, strconv.Itoa(i), 1, false); rc >= 0x80 {
			t.Fatalf("publish %d: reason 0x%02x", i, rc)
		}
	}
}

// receiveSeq reads msgs until payloads from..n-1 all arrived in order of
// first arrival (a QoS 1 repeat of an earlier one flagged DUP is allowed).
func receiveSeq(t *testing.T, msgs <-chan msg, from, n int) {
	t.Helper()
	next := from
	for next < n {
		select {
		case m := <-msgs:
			v, err := strconv.Atoi(m.Payload)
			switch {
			case err != nil:
				t.Fatalf("payload %q", m.Payload)
			case v == next:
				next++
			case v < next && m.Dup:
				// QoS 1 allows it
			default:
				t.Fatalf("got %d (dup %v) while waiting for %d", v, m.Dup, next)
			}
		case <-time.After(waitFor):
			t.Fatalf("no message %d within %s", next, waitFor)
		}
	}
}

// A persistent session created on the first node, 100 QoS 1 messages
// queued while it is offline, resumed on the second node: session present
// and all 100 in order.
func testSessionQueuedMove(t *testing.T, dc *dataCluster) {
	a, b, c := dc.ids[0], dc.ids[1], dc.ids[2]
	s := dialV5(t, dc.addr(a), "queued", sessionExpiry(3600))
	s.subscribe("sq/#", 1)
	if err := s.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	<-s.Done()
	pub := dialV5(t, dc.addr(c), "queued-pub")
	publishSeq(t, pub, "sq/x", 0, 100) // each PUBACK waits until the session on a has it
	s2 := dialV5(t, dc.addr(b), "queued", cleanStart(false), sessionExpiry(3600))
	if !s2.connack.SessionPresent {
		t.Fatal("session present not set on the second node")
	}
	receiveSeq(t, s2.msgs, 0, 100)
	publishSeq(t, pub, "sq/x", 100, 1)
	receiveSeq(t, s2.msgs, 100, 101)
}

// The same with a window of 10 messages sent but not acknowledged when
// the connection drops: they come again (DUP) first, then the rest.
func testSessionInflightMove(t *testing.T, dc *dataCluster) {
	a, b, c := dc.ids[0], dc.ids[1], dc.ids[2]
	s := dialV5(t, dc.addr(a), "window", sessionExpiry(3600), receiveMaximum(10), manualAck())
	s.subscribe("sw/#", 1)
	pub := dialV5(t, dc.addr(c), "window-pub")
	publishSeq(t, pub, "sw/x", 0, 100)
	receiveSeq(t, s.msgs, 0, 10) // the window: sent, never acknowledged
	s.drop()
	s2 := dialV5(t, dc.addr(b), "window", cleanStart(false), sessionExpiry(3600))
	if !s2.connack.SessionPresent {
		t.Fatal("session present not set on the second node")
	}
	for i := range 10 {
		select {
		case m := <-s2.msgs:
			if m.Payload != strconv.Itoa(i) || !m.Dup {
				t.Fatalf("resent message %d: %q dup=%v", i, m.Payload, m.Dup)
			}
		case <-time.After(waitFor):
			t.Fatalf("unacknowledged message %d not resent", i)
		}
	}
	receiveSeq(t, s2.msgs, 10, 100)
}

// A client connected on the first node connects again on the second: the
// first connection gets DISCONNECT 0x8E, and messages published on every
// node reach the client on the second node only.
func testSessionTakeoverV5(t *testing.T, dc *dataCluster) {
	a, b := dc.ids[0], dc.ids[1]
	old := dialV5(t, dc.addr(a), "taken", sessionExpiry(3600))
	old.subscribe("st/#", 1)
	nu := dialV5(t, dc.addr(b), "taken", cleanStart(false), sessionExpiry(3600))
	if d := old.expectServerDisconnect(); d.ReasonCode != 0x8E {
		t.Fatalf("the old connection was told 0x%02x, want 0x8E", d.ReasonCode)
	}
	if !nu.connack.SessionPresent {
		t.Fatal("session present not set")
	}
	for i, id := range dc.ids {
		p := dialV5(t, dc.addr(id), "taken-pub-"+id)
		publishSeq(t, p, "st/"+id, i*10, 10)
	}
	receiveSeq(t, nu.msgs, 0, 30)
	select {
	case m := <-old.msgs:
		t.Fatalf("the old connection got %q", m.Payload)
	default:
	}
}

// The same with MQTT 3.1.1 (paho.mqtt.golang): the old connection is
// closed, the new one resumes the session.
func testSessionTakeoverV311(t *testing.T, dc *dataCluster) {
	a, b, c := dc.ids[0], dc.ids[1], dc.ids[2]
	lost := make(chan struct{})
	persistent := func(o *mqttOptions) {
		o.SetCleanSession(false)
		o.SetConnectionLostHandler(func(mqtt.Client, error) { close(lost) })
	}
	old := dialV311(t, dc.addr(a), "taken3", persistent)
	if rc := old.subscribe("s3/#", 1); rc != 1 {
		t.Fatalf("suback %d", rc)
	}
	in := make(chan msg, 100)
	nu, err := connectV311(t, dc.addr(b), "taken3", func(o *mqttOptions) {
		o.SetCleanSession(false)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			in <- msg{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Dup: m.Duplicate()}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal("the old 3.1.1 connection was not closed")
	}
	pub := dialV5(t, dc.addr(c), "taken3-pub")
	publishSeq(t, pub, "s3/x", 0, 20)
	receiveSeq(t, in, 0, 20)
	if !nu.IsConnected() {
		t.Fatal("the new connection is down")
	}
}

// TestClusterSessionWills: the node holding two clients with wills is
// SIGKILLed. The first client's will is published once, by a survivor,
// once its delay has passed; the second client connects to a survivor
// before its delay: its will is never published.
func TestClusterSessionWills(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "wills")
	a, b, victim := dc.ids[0], dc.ids[1], dc.ids[2]
	watch := dialV5(t, dc.addr(a), "watcher")
	watch.subscribe("will/#", 1)
	const delay, laterDelay = 2, 8
	dialV5(t, dc.addr(victim), "dies", sessionExpiry(3600), will("will/dies", "dies gone", 1, delay))
	dialV5(t, dc.addr(victim), "returns", sessionExpiry(3600), will("will/returns", "returns gone", 1, laterDelay))
	// A client's will is registered with the peers as it connects; a
	// round trip through every link makes sure it arrived.
	for _, id := range []string{a, b} {
		p := dialV5(t, dc.addr(victim), "flush-"+id)
		s := dialV5(t, dc.addr(id), "flush-sub-"+id)
		s.subscribe("flush/"+id, 1)
		p.publish("flush/"+id, "x", 1, false)
		waitMsg(t, s.msgs, "flush/"+id)
	}

	killed := time.Now()
	_ = dc.byID[victim].stop(syscall.SIGKILL) // "signal: killed"
	// Its claim waits ClaimWait for the dead node, then goes on.
	dialV5(t, dc.addr(b), "returns", cleanStart(false), sessionExpiry(3600))

	var got time.Time
	select {
	case m := <-watch.msgs:
		got = time.Now()
		if m.Topic != "will/dies" || m.Payload != "dies gone" {
			t.Fatalf("got %q on %s", m.Payload, m.Topic)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no will within 30s of the kill")
	}
	if d := got.Sub(killed); d < delay*time.Second {
		t.Fatalf("the will came %s after the kill, before its %ds delay", d, delay)
	}
	t.Logf("will published %s after the SIGKILL (delay %ds, plus the failure detection)", got.Sub(killed).Round(time.Millisecond), delay)
	// The death was declared at got-delay at the latest; the second will
	// would be due laterDelay after it.
	quiet := got.Add((laterDelay - delay + 3) * time.Second)
	eventually(t, time.Until(quiet)+waitFor, func() error {
		select {
		case m := <-watch.msgs:
			t.Fatalf("another will: %q on %s", m.Payload, m.Topic)
		default:
		}
		if time.Now().Before(quiet) {
			return errWaitingQuiet
		}
		return nil
	})
}

// errWaitingQuiet is a wait's error while it makes sure nothing arrives.
var errWaitingQuiet = errors.New("still making sure nothing else arrives")

// waitMsg waits for a message on topic.
func waitMsg(t *testing.T, msgs <-chan msg, topic string) {
	t.Helper()
	for {
		select {
		case m := <-msgs:
			if m.Topic == topic {
				return
			}
		case <-time.After(waitFor):
			t.Fatalf("no message on %s within %s", topic, waitFor)
		}
	}
}
