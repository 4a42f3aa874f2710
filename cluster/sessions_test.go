package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/internal/testwait"
)

// sessClient is an MQTT 5 client with a persistent session option, that
// records how its connection ended.
type sessClient struct {
	*paho.Client
	msgs  chan *paho.Publish
	ack   *paho.Connack
	gone  chan struct{} // closed when the server sends DISCONNECT
	rc    atomic.Int32  // its reason code
	conn  net.Conn
	close sync.Once
}

// connectOpts are a test client's CONNECT choices.
type connectOpts struct {
	clean    bool
	expiry   uint32
	manual   bool // acknowledge received messages only when told
	willTo   string
	willWait uint32
}

// connectTo connects id to x with o; an error is returned, not fatal, so
// that racing connections may lose.
func connectTo(t *testing.T, x *testNode, id string, o connectOpts) (*sessClient, error) {
	t.Helper()
	conn, err := net.Dial("tcp", x.mqtt)
	if err != nil {
		return nil, err
	}
	c := &sessClient{msgs: make(chan *paho.Publish, 1<<16), gone: make(chan struct{}), conn: conn}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: waitFor, EnableManualAcknowledgment: o.manual,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) {
			c.rc.Store(int32(d.ReasonCode))
			close(c.gone)
		}})
	cp := &paho.Connect{ClientID: id, CleanStart: o.clean, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}}
	if o.willTo != "" {
		cp.WillMessage = &paho.WillMessage{Topic: o.willTo, Payload: []byte("gone:" + id), QoS: 1}
		cp.WillProperties = &paho.WillProperties{WillDelayInterval: &o.willWait}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connect %s to %s: %w", id, x.name, err)
	}
	c.ack = ack
	t.Cleanup(c.drop)
	return c, nil
}

// mustConnect is connectTo failing the test on error.
func mustConnect(t *testing.T, x *testNode, id string, o connectOpts) *sessClient {
	t.Helper()
	c, err := connectTo(t, x, id, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// drop ends the network connection without DISCONNECT.
func (c *sessClient) drop() {
	c.close.Do(func() { _ = c.conn.Close() })
	<-c.Done()
}

// leave disconnects cleanly.
func (c *sessClient) leave() {
	c.close.Do(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	<-c.Done()
}

func (c *sessClient) subscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}}); err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
}

// next returns the next message, failing after waitFor.
func (c *sessClient) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message")
		return nil
	}
}

// live reports whether c's connection is still up.
func (c *sessClient) live() bool {
	select {
	case <-c.Done():
		return false
	default:
		return true
	}
}

// publishN publishes n QoS 1 messages "0".."n-1" to topic from pub.
func publishN(t *testing.T, pub *client, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		pub.pub(t, topic, strconv.Itoa(i), 1)
	}
}

// expectInOrder reads messages until "0".."n-1" have all arrived, in
// order of first arrival (a QoS 1 duplicate of an earlier one is allowed,
// anything else out of order fails).
func expectInOrder(t *testing.T, c *sessClient, n int) {
	t.Helper()
	expectInOrderFrom(t, c, 0, n)
}

// expectInOrderFrom is expectInOrder for "from".."n-1".
func expectInOrderFrom(t *testing.T, c *sessClient, from, n int) {
	t.Helper()
	next := from
	for next < n {
		m := c.next(t)
		v, err := strconv.Atoi(string(m.Payload))
		if err != nil {
			t.Fatalf("payload %q", m.Payload)
		}
		switch {
		case v == next:
			next++
		case v < next:
			// a duplicate, as QoS 1 allows
		default:
			t.Fatalf("got %d before %d", v, next)
		}
	}
}

// persistent is a session that outlives its connection for an hour.
var persistent = connectOpts{expiry: 3600}

// TestSessionMovesWithQueuedMessages: a session with 100 QoS 1 messages
// queued on a, offline, resumes on b with all of them in order.
func TestSessionMovesWithQueuedMessages(t *testing.T) {
	_, nodes := three(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	s := mustConnect(t, a, "mover", connectOpts{clean: true, expiry: 3600})
	s.subscribe(t, "q/#", 1)
	s.leave()
	pub := dial(t, c, "pub")
	publishN(t, pub, "q/x", 0, 100) // each PUBACK waits until a has it queued
	s2 := mustConnect(t, b, "mover", persistent)
	if !s2.ack.SessionPresent {
		t.Fatal("session present not set on b")
	}
	expectInOrder(t, s2, 100)
	// The session lives on b only: a new message reaches it there.
	pub.pub(t, "q/x", "100", 1)
	if m := s2.next(t); string(m.Payload) != "100" {
		t.Fatalf("got %q", m.Payload)
	}
	if st := b.c.SessionStats(); st.SessionsMoved != 1 {
		t.Fatalf("sessions moved: %+v", st)
	}
}

// TestSessionMovesWithInflightWindow: messages sent on a but not
// acknowledged are resent on b with their order, then the queued ones.
func TestSessionMovesWithInflightWindow(t *testing.T) {
	_, nodes := three(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	s := mustConnect(t, a, "window", connectOpts{clean: true, expiry: 3600, manual: true})
	s.subscribe(t, "w/#", 1)
	pub := dial(t, c, "pub")
	publishN(t, pub, "w/x", 0, 100)
	// The window (Receive Maximum 65535 by default, MaxInflight on the
	// broker) holds some; the client acknowledges none of them.
	got := s.next(t)
	if string(got.Payload) != "0" {
		t.Fatalf("first message %q", got.Payload)
	}
	s.drop()
	s2 := mustConnect(t, b, "window", persistent)
	if !s2.ack.SessionPresent {
		t.Fatal("session present not set on b")
	}
	first := s2.next(t)
	if string(first.Payload) != "0" || !first.Duplicate() {
		t.Fatalf("first message on b: %q dup=%v, want the unacknowledged 0 resent", first.Payload, first.Duplicate())
	}
	expectInOrderFrom(t, s2, 1, 100)
}

// TestTakeoverOfConnectedClient: a client connected on a connects again
// on b: a's connection gets 0x8E and messages reach the client on b only.
func TestTakeoverOfConnectedClient(t *testing.T) {
	_, nodes := three(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	old := mustConnect(t, a, "dev", connectOpts{clean: true, expiry: 3600})
	old.subscribe(t, "cmd/#", 1)
	nu := mustConnect(t, b, "dev", persistent)
	select {
	case <-old.gone:
	case <-time.After(waitFor):
		t.Fatal("the old connection got no DISCONNECT")
	}
	if rc := old.rc.Load(); rc != 0x8E {
		t.Fatalf("old connection told %#x, want 0x8E", rc)
	}
	if !nu.ack.SessionPresent {
		t.Fatal("session present not set")
	}
	pub := dial(t, c, "pub")
	publishN(t, pub, "cmd/x", 0, 10)
	expectInOrder(t, nu, 10)
	select {
	case m := <-old.msgs:
		t.Fatalf("old connection got %q", m.Payload)
	default:
	}
	if n := a.b.Stats().Sessions; n != 0 {
		t.Fatalf("a still holds %d sessions", n)
	}
}

// TestCleanStartDiscardsEverywhere: clean start on b ends the session
// held on a; nothing queued there arrives.
func TestCleanStartDiscardsEverywhere(t *testing.T) {
	_, nodes := three(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	s := mustConnect(t, a, "fresh", connectOpts{clean: true, expiry: 3600})
	s.subscribe(t, "f/#", 1)
	s.leave()
	pub := dial(t, c, "pub")
	publishN(t, pub, "f/x", 0, 5)
	s2 := mustConnect(t, b, "fresh", connectOpts{clean: true, expiry: 3600})
	if s2.ack.SessionPresent {
		t.Fatal("session present with clean start")
	}
	testwait.Until(t, waitFor, func() error {
		if n := a.b.Stats().Sessions; n != 0 {
			return fmt.Errorf("a holds %d sessions", n)
		}
		return nil
	})
	s2.subscribe(t, "g", 1)
	pub.pub(t, "g", "after", 1)
	if m := s2.next(t); string(m.Payload) != "after" {
		t.Fatalf("got %q, want only what came after the clean start", m.Payload)
	}
}

// TestRacingConnectionsEndWithOne: 200 rounds of one client id connecting
// on two nodes at once end each time with exactly one live connection,
// the other told 0x8E (or refused).
func TestRacingConnectionsEndWithOne(t *testing.T) {
	_, nodes := three(t)
	a, b := nodes[0], nodes[1]
	both := 0 // rounds where both connections got a CONNACK
	defer func() { t.Logf("%d of 200 rounds: both connected, one then taken over", both) }()
	for round := range 200 {
		id := "racer-" + strconv.Itoa(round)
		var wg sync.WaitGroup
		conns := make([]*sessClient, 2)
		for i, x := range []*testNode{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conns[i], _ = connectTo(t, x, id, persistent)
			}()
		}
		wg.Wait()
		if conns[0] != nil && conns[1] != nil {
			both++
		}
		testwait.Until(t, waitFor, func() error {
			live := 0
			for _, c := range conns {
				if c != nil && c.live() {
					live++
				}
			}
			if live != 1 {
				return fmt.Errorf("round %d: %d live connections", round, live)
			}
			return nil
		})
		for _, c := range conns {
			if c != nil && !c.live() {
				select {
				case <-c.gone:
					if rc := c.rc.Load(); rc != 0x8E {
						t.Fatalf("round %d: the loser was told %#x", round, rc)
					}
				case <-time.After(waitFor):
					t.Fatalf("round %d: the loser got no DISCONNECT", round)
				}
			}
		}
		for _, c := range conns {
			if c != nil {
				c.leave()
			}
		}
	}
}

// TestTakeoverDuringPublisherStream: a publisher on c streams QoS 1
// messages while the subscriber moves from a to b and back: every message
// arrives, in order of first arrival.
func TestTakeoverDuringPublisherStream(t *testing.T) {
	_, nodes := three(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	s := mustConnect(t, a, "stream", connectOpts{clean: true, expiry: 3600})
	s.subscribe(t, "s/#", 1)
	pub := dial(t, c, "pub")
	const total = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			_, err := pub.Publish(ctx, &paho.Publish{Topic: "s/x", Payload: []byte(strconv.Itoa(i)), QoS: 1})
			cancel()
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
		}
	}()
	next := 0
	check := func(m *paho.Publish) {
		v, _ := strconv.Atoi(string(m.Payload))
		if v > next {
			t.Fatalf("got %d before %d", v, next)
		}
		if v == next {
			next++
		}
	}
	read := func(cl *sessClient, upto int) {
		for next < upto {
			check(cl.next(t))
		}
	}
	// moved reads what the old connection received (and acknowledged)
	// before it was taken over.
	moved := func(old *sessClient) {
		<-old.Done()
		for {
			select {
			case m := <-old.msgs:
				check(m)
			default:
				return
			}
		}
	}
	read(s, 100)
	s2 := mustConnect(t, b, "stream", persistent)
	moved(s)
	read(s2, 300)
	s3 := mustConnect(t, a, "stream", persistent)
	moved(s2)
	read(s3, total)
	<-done
}

// TestFlappingClientIsSlowedDown: a client id reconnecting alternately on
// two nodes faster than 2 s apart makes its claims wait longer and
// longer; it still ends with one connection.
func TestFlappingClientIsSlowedDown(t *testing.T) {
	_, nodes := three(t)
	a, b := nodes[0], nodes[1]
	var last *sessClient
	start := time.Now()
	for i := range 6 {
		last = mustConnect(t, []*testNode{a, b}[i%2], "flapper", persistent)
	}
	slowed := a.c.SessionStats().ClaimsSlowed + b.c.SessionStats().ClaimsSlowed
	if slowed < 4 {
		t.Fatalf("%d claims slowed down, want at least 4 of 6", slowed)
	}
	// Waits of 50, 100, 200, 400 ms at least (each node sees both its own
	// claims and the other's).
	if d := time.Since(start); d < 750*time.Millisecond {
		t.Fatalf("6 flapping connections took %s: not slowed down", d)
	}
	if !last.live() {
		t.Fatal("the last connection is down")
	}
}
