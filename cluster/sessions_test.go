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
	next := 0
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
