package integration

import (
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// A shared group member that leaves hands the messages it had not had
// acknowledged to the rest of its group [MQTT 5 §4.8.2] (README "Shared
// subscriptions across nodes"). The leaving member is a raw client that
// never acknowledges; the other is paho.

// rawMember connects a raw MQTT 5 client that never acknowledges, with
// Clean Start, the session expiry and Receive Maximum given, subscribed to
// filter at qos.
func rawMember(t *testing.T, n *node, id string, expiry uint32, recvMax uint16, filter string, qos byte) *rawClient {
	t.Helper()
	cp := packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	cp.Props.SessionExpiry, cp.Props.ReceiveMaximum = expiry, recvMax
	cp.Props.Set(packet.PropSessionExpiry)
	cp.Props.Set(packet.PropReceiveMaximum)
	r, ack := connectRaw(t, n, packet.V5, cp)
	if ack.ReasonCode != packet.Success {
		t.Fatalf("connack %v", ack.ReasonCode)
	}
	r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
	if sa := expectPacket[*packet.Suback](r); sa.ReasonCodes[0] != packet.ReasonCode(qos) {
		t.Fatalf("suback %v", sa.ReasonCodes)
	}
	return r
}

// publishMarked publishes payloads prefix0..prefix{k-1} at qos with a
// content type and a user property, each acknowledged once it is in the
// subscribers' sessions.
func publishMarked(t *testing.T, pub *v5Client, topic, prefix string, k int, qos byte) {
	t.Helper()
	for i := range k {
		pub.publishWith(&paho.Publish{Topic: topic, Payload: []byte(fmt.Sprint(prefix, i)), QoS: qos,
			Properties: &paho.PublishProperties{ContentType: "text/x", User: paho.UserProperties{{Key: "k", Value: "v"}}}})
	}
}

// expectRedelivered expects payloads prefix{from}..prefix{to-1} on ch, in
// order, at qos, without DUP and with their properties.
func expectRedelivered(t *testing.T, ch <-chan msg, prefix string, from, to int, qos byte) {
	t.Helper()
	for i := from; i < to; i++ {
		m := expectMessage(t, ch, waitFor)
		if m.Payload != fmt.Sprint(prefix, i) || m.QoS != qos || m.Dup || m.Props == nil ||
			m.Props.ContentType != "text/x" || m.Props.User.Get("k") != "v" {
			t.Fatalf("message %d: got %v (props %+v), want %q at QoS %d without DUP, with its properties",
				i, m, m.Props, fmt.Sprint(prefix, i), qos)
		}
	}
}

// Every way a member's session ends hands its inflight and queued
// messages of the group to the other member, in order.
func TestSharedMemberLeavingHandsOverItsMessages(t *testing.T) {
	t.Parallel()
	const total = 6 // 2 inflight (Receive Maximum 2), 4 queued
	leaves := []struct {
		name   string
		expiry uint32
		leave  func(t *testing.T, n *node, r *rawClient)
	}{
		{"disconnect with expiry 0", 0, func(_ *testing.T, _ *node, r *rawClient) {
			r.send(&packet.Disconnect{})
			r.expectClosed()
		}},
		{"connection lost with expiry 0", 0, func(_ *testing.T, _ *node, r *rawClient) { _ = r.conn.Close() }},
		{"takeover with clean start", 300, func(t *testing.T, n *node, _ *rawClient) {
			if _, ack := connectRaw(t, n, packet.V5, packet.Connect{ClientID: "a", CleanStart: true}); ack.SessionPresent {
				t.Fatal("clean start: session present")
			}
		}},
		{"clean start after the connection", 300, func(t *testing.T, n *node, r *rawClient) {
			_ = r.conn.Close()
			waitConnected(t, n, 2)
			connectRaw(t, n, packet.V5, packet.Connect{ClientID: "a", CleanStart: true})
		}},
		{"session expiry", 1, func(_ *testing.T, _ *node, r *rawClient) { _ = r.conn.Close() }},
	}
	for _, lc := range leaves {
		t.Run(lc.name, func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{})
			a := rawMember(t, n, "a", lc.expiry, 2, "$share/g/lv/t", 1)
			pub := dialV5(t, n, "pub")
			publishMarked(t, pub, "lv/t", "m", total, 1)
			for i := range 2 {
				if p := expectPacket[*packet.Publish](a); string(p.Payload) != fmt.Sprint("m", i) {
					t.Fatalf("member a got %q first", p.Payload)
				}
			}
			b := dialV5(t, n, "b")
			b.subscribe("$share/g/lv/t", 2)
			lc.leave(t, n, a)
			expectRedelivered(t, b.msgs, "m", 0, total, 1)
			pub.publish("lv/t", "end", 1, false)
			expectNoMessage(t, b.msgs, "end")
		})
	}
}

// UNSUBSCRIBE from the shared filter hands the member's messages of the
// group to the rest of it; the member gets no more of them.
func TestSharedMemberUnsubscribingHandsOverItsMessages(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a := rawMember(t, n, "a", 300, 2, "$share/g/lu/t", 1)
	a.send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "lu/plain", QoS: 1}}})
	expectPacket[*packet.Suback](a)
	pub := dialV5(t, n, "pub")
	publishMarked(t, pub, "lu/t", "m", 5, 1)
	for range 2 {
		expectPacket[*packet.Publish](a)
	}
	b := dialV5(t, n, "b")
	b.subscribe("$share/g/lu/t", 1)
	a.send(&packet.Unsubscribe{PacketID: 3, Filters: []string{"$share/g/lu/t"}})
	if ua := expectPacket[*packet.Unsuback](a); ua.ReasonCodes[0] != packet.Success {
		t.Fatalf("unsuback %v", ua.ReasonCodes)
	}
	expectRedelivered(t, b.msgs, "m", 0, 5, 1)
	// a is still connected and subscribed to its plain filter: the next
	// message it gets is that one, none of the group's.
	pub.publish("lu/t", "after", 1, false)
	if m := expectMessage(t, b.msgs, waitFor); m.Payload != "after" {
		t.Fatalf("b got %v, want after", m)
	}
	pub.publish("lu/plain", "plain", 1, false)
	if p := expectPacket[*packet.Publish](a); p.Topic != "lu/plain" {
		t.Fatalf("a got %s %q after unsubscribing", p.Topic, p.Payload)
	}
}

// A QoS 2 message the leaving member already PUBRECed (released) was
// delivered: only the others go to the rest of the group.
func TestSharedMemberLeavingKeepsReleasedQoS2(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a := rawMember(t, n, "a", 0, 10, "$share/g/l2/t", 2)
	pub := dialV5(t, n, "pub")
	publishMarked(t, pub, "l2/t", "m", 3, 2)
	var first uint16
	for i := range 3 {
		p := expectPacket[*packet.Publish](a)
		if i == 0 {
			first = p.PacketID
		}
	}
	a.send(&packet.Ack{Type: packet.PUBREC, PacketID: first})
	if rel := expectPacket[*packet.Ack](a); rel.Type != packet.PUBREL || rel.PacketID != first {
		t.Fatalf("got %+v, want PUBREL %d", rel, first)
	}
	b := dialV5(t, n, "b")
	b.subscribe("$share/g/l2/t", 2)
	a.send(&packet.Disconnect{})
	a.expectClosed()
	expectRedelivered(t, b.msgs, "m", 1, 3, 2)
	pub.publish("l2/t", "end", 1, false)
	expectNoMessage(t, b.msgs, "end")
}

// With no member left, the messages are dropped and counted.
func TestSharedLastMemberLeavingDropsCounted(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a := rawMember(t, n, "a", 0, 1, "$share/g/le/t", 1)
	pub := dialV5(t, n, "pub")
	publishMarked(t, pub, "le/t", "m", 3, 1)
	expectPacket[*packet.Publish](a)
	a.send(&packet.Disconnect{})
	a.expectClosed()
	eventually(t, waitFor, func() error {
		if got := n.b.Stats().Drops["shared group empty"]; got != 3 {
			return fmt.Errorf("%d drops for an empty group, want 3", got)
		}
		return nil
	})
}
