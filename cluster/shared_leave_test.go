package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/internal/testwait"
)

// dialSilent connects an MQTT 5 client to x that never acknowledges the
// messages it gets (manual acknowledgement, never given).
func dialSilent(t *testing.T, x *testNode, id string) *client {
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
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connect %s to %s: %v", id, x.name, err)
	}
	t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			_ = c.Disconnect(&paho.Disconnect{})
		}
		<-c.Done()
	})
	return c
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
