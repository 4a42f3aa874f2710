package integration

import (
	"fmt"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// A message published at QoS q to a subscription granted q arrives at q,
// for every q, with MQTT 5 clients [MQTT-4.3.1..4.3.3].
func TestQoSRoundTripV5(t *testing.T) {
	t.Parallel()
	for q := byte(0); q <= 2; q++ {
		t.Run(fmt.Sprintf("qos%d", q), func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{})
			sub := dialV5(t, n, "sub")
			if rc := sub.subscribe("rt/t", q); rc != q {
				t.Fatalf("SUBACK %#02x, want %d", rc, q)
			}
			pub := dialV5(t, n, "pub")
			if rc := pub.publish("rt/t", "hello", q, false); rc != 0 {
				t.Fatalf("publish acknowledged with %#02x", rc)
			}
			m := expectMessage(t, sub.msgs, waitFor)
			if m.Topic != "rt/t" || m.Payload != "hello" || m.QoS != q {
				t.Fatalf("got %v, want rt/t \"hello\" at QoS %d", m, q)
			}
		})
	}
}

// The same round trips with MQTT 3.1.1 clients [MQTT-4.3.1..4.3.3].
func TestQoSRoundTripV311(t *testing.T) {
	t.Parallel()
	for q := byte(0); q <= 2; q++ {
		t.Run(fmt.Sprintf("qos%d", q), func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{})
			sub := dialV311(t, n, "sub")
			if rc := sub.subscribe("rt/t", q); rc != q {
				t.Fatalf("SUBACK %#02x, want %d", rc, q)
			}
			dialV311(t, n, "pub").publish("rt/t", "hello", q, false)
			m := expectMessage(t, sub.msgs, waitFor)
			if m.Topic != "rt/t" || m.Payload != "hello" || m.QoS != q {
				t.Fatalf("got %v, want rt/t \"hello\" at QoS %d", m, q)
			}
		})
	}
}

// The delivered QoS is the minimum of the published QoS and the granted
// QoS [MQTT-3.8.4-8 (v5) / 3.8.4 (3.1.1)].
func TestDeliveredQoSIsMinimum(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	for g := byte(0); g <= 2; g++ {
		sub.subscribe(fmt.Sprintf("min/%d", g), g)
	}
	pub := dialV5(t, n, "pub")
	for g := byte(0); g <= 2; g++ {
		for q := byte(0); q <= 2; q++ {
			pub.publish(fmt.Sprintf("min/%d", g), fmt.Sprintf("%d%d", g, q), q, false)
		}
	}
	pub.publish("min/0", "end", 0, false)
	got := collectUntil(t, sub.msgs, "end")
	if len(got) != 9 {
		t.Fatalf("got %d messages, want 9: %v", len(got), got)
	}
	for _, m := range got {
		g, q := m.Payload[0]-'0', m.Payload[1]-'0'
		if m.QoS != min(g, q) {
			t.Errorf("published at QoS %d, granted %d: delivered at %d, want %d", q, g, m.QoS, min(g, q))
		}
	}
}

// Overlapping subscriptions of one client deliver the message at the
// highest QoS among them [MQTT-3.3.4-2].
func TestOverlappingSubscriptionsDeliverMaxQoS(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("ov/+", 0)
	sub.subscribe("ov/a", 2)
	pub := dialV5(t, n, "pub")
	pub.publish("ov/a", "m", 2, false)
	pub.publish("ov/a", "end", 0, false)
	got := collectUntil(t, sub.msgs, "end")
	best := -1
	for _, m := range got {
		best = max(best, int(m.QoS))
	}
	if best != 2 {
		t.Fatalf("copies %v: highest QoS %d, want 2", got, best)
	}
}

// A QoS 2 PUBLISH resent with DUP before PUBREL is delivered once
// [MQTT-4.3.3-10 (v5) / MQTT-4.3.3-2 (3.1.1)].
func TestQoS2ExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{})
			sub := dialV5(t, n, "sub")
			sub.subscribe("eo/t", 2)
			pub, _ := connectRaw(t, n, v, packet.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30})
			p := packet.Publish{QoS: 2, PacketID: 7, Topic: "eo/t", Payload: []byte("once")}
			pub.send(&p)
			expectAck(t, pub, packet.PUBREC, 7)
			p.Dup = true
			pub.send(&p)
			expectAck(t, pub, packet.PUBREC, 7)
			pub.send(&packet.Ack{Type: packet.PUBREL, PacketID: 7})
			expectAck(t, pub, packet.PUBCOMP, 7)
			pub.send(&packet.Publish{Topic: "eo/t", Payload: []byte("end")})
			if got := collectUntil(t, sub.msgs, "end"); len(got) != 1 {
				t.Fatalf("delivered %d times (%v), want once", len(got), got)
			}
		})
	}
}

// expectAck reads an acknowledgement of type typ for packet id pid.
func expectAck(t *testing.T, r *rawClient, typ packet.Type, pid uint16) *packet.Ack {
	t.Helper()
	a := expectPacket[*packet.Ack](r)
	if a.Type != typ || a.PacketID != pid {
		t.Fatalf("got ack type %d id %d (reason %#02x), want type %d id %d", a.Type, a.PacketID, byte(a.ReasonCode), typ, pid)
	}
	return a
}
