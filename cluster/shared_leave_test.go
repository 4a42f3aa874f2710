package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/internal/testwait"
)

// dialSilent connects an MQTT 5 client to x, with Clean Start and no
// session expiry, that never acknowledges the messages it gets.
func dialSilent(t *testing.T, x *testNode, id string) *client {
	t.Helper()
	c, _ := connectSilent(t, x, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	return c
}

// connectSilent connects an MQTT 5 client to x with cp that never
// acknowledges the messages it gets (manual acknowledgement, never given).
func connectSilent(t *testing.T, x *testNode, cp *paho.Connect) (*client, *paho.Connack) {
	t.Helper()
	conn, err := net.Dial("tcp", x.mqtt)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{msgs: make(chan *paho.Publish, 1<<10)}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: waitFor, EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("connect %s to %s: %v", cp.ClientID, x.name, err)
	}
	t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			_ = c.Disconnect(&paho.Disconnect{})
		}
		<-c.Done()
	})
	return c, ack
}

// A member on n2 that leaves its group (DISCONNECT with session expiry 0)
// with unacknowledged messages: the group's only other member is on n3,
// which gets them, in order, without DUP. With no member left anywhere,
// they are dropped and counted.
func TestSharedMemberLeavingHandsOverToAnotherNode(t *testing.T) {
	_, nodes := three(t)
	const total = 20
	a := dialSilent(t, nodes[1], "a")
	a.sub(t, "$share/g/lv/t", 1)
	pub := dial(t, nodes[0], "pub")
	for i := range total {
		pub.pub(t, "lv/t", fmt.Sprint("m", i), 1)
	}
	for i := range total {
		if m := a.expect(t); string(m.Payload) != fmt.Sprint("m", i) {
			t.Fatalf("a got %q, want m%d", m.Payload, i)
		}
	}
	c := dial(t, nodes[2], "c")
	c.sub(t, "$share/g/lv/t", 1)
	if err := a.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		m := c.expect(t)
		if string(m.Payload) != fmt.Sprint("m", i) || m.QoS != 1 || m.Duplicate() {
			t.Fatalf("c got %q qos %d dup %t, want m%d at QoS 1 without DUP", m.Payload, m.QoS, m.Duplicate(), i)
		}
	}
	pub.pub(t, "lv/t", "end", 1)
	if m := c.expect(t); string(m.Payload) != "end" {
		t.Fatalf("c got %q, want end", m.Payload)
	}

	// The last member leaves: nobody can get its messages.
	s := dialSilent(t, nodes[2], "s")
	s.sub(t, "$share/g/le/t", 1)
	for i := range 3 {
		pub.pub(t, "le/t", fmt.Sprint("x", i), 1)
	}
	for range 3 {
		s.expect(t)
	}
	if err := s.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, waitFor, func() error {
		if got := nodes[2].b.Stats().Drops["shared group empty"]; got != 3 {
			return fmt.Errorf("n3 counted %d drops for an empty group, want 3", got)
		}
		return nil
	})
}

// silentMemberHolding connects client "a" to x with a session of expiry
// seconds, a member of group g on topic that never acknowledges, and
// publishes total QoS 1 messages to topic on pubAt; it returns once a
// holds them all, unacknowledged.
func silentMemberHolding(t *testing.T, x, pubAt *testNode, topic string, total int, expiry uint32) {
	t.Helper()
	a, _ := connectSilent(t, x, &paho.Connect{ClientID: "a", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	a.sub(t, "$share/g/"+topic, 1)
	pub := dial(t, pubAt, "pub")
	for i := range total {
		pub.pub(t, topic, fmt.Sprint("m", i), 1)
	}
	for range total {
		a.expect(t)
	}
}

// A member's unacknowledged messages keep their group when its session
// moves to another node: a member whose session moved from n2 to n3 and
// then ends there (DISCONNECT with session expiry 0) hands them to the
// group's member on n1.
func TestSharedMemberLeavingAfterItsSessionMoved(t *testing.T) {
	_, nodes := three(t)
	const total = 10
	expiry := uint32(300)
	silentMemberHolding(t, nodes[1], nodes[0], "mv/t", total, expiry)
	moved, ack := connectSilent(t, nodes[2], &paho.Connect{ClientID: "a", KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if !ack.SessionPresent {
		t.Fatal("the session did not move to n3")
	}
	for i := range total { // resent, unacknowledged again
		if m := moved.expect(t); string(m.Payload) != fmt.Sprint("m", i) {
			t.Fatalf("moved session got %q, want m%d", m.Payload, i)
		}
	}
	b := dial(t, nodes[0], "b")
	b.sub(t, "$share/g/mv/t", 1)
	zero := uint32(0)
	if err := moved.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: &zero}}); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		if m := b.expect(t); string(m.Payload) != fmt.Sprint("m", i) || m.Duplicate() {
			t.Fatalf("b got %q dup %t, want m%d without DUP", m.Payload, m.Duplicate(), i)
		}
	}
}

// A member whose client connects again with Clean Start on another node
// leaves its group: its node discards the session and hands its
// unacknowledged messages to the group's other member, on a third node.
func TestSharedMemberDiscardedFromAnotherNode(t *testing.T) {
	_, nodes := three(t)
	const total = 10
	expiry := uint32(300)
	silentMemberHolding(t, nodes[1], nodes[0], "cs/t", total, expiry)
	c := dial(t, nodes[2], "c")
	c.sub(t, "$share/g/cs/t", 1)
	if _, ack := connectSilent(t, nodes[0], &paho.Connect{ClientID: "a", CleanStart: true, KeepAlive: 30}); ack.SessionPresent {
		t.Fatal("clean start: session present")
	}
	for i := range total {
		if m := c.expect(t); string(m.Payload) != fmt.Sprint("m", i) || m.Duplicate() {
			t.Fatalf("c got %q dup %t, want m%d without DUP", m.Payload, m.Duplicate(), i)
		}
	}
}
