package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// waitConnected waits until the broker counts k connected clients, so that
// a client's end has been processed before the test goes on.
func waitConnected(t *testing.T, n *node, k int64) {
	t.Helper()
	eventually(t, waitFor, func() error {
		if got := n.b.Stats().ClientsConnected; got != k {
			return fmt.Errorf("%d clients connected, want %d", got, k)
		}
		return nil
	})
}

// Clean Start discards the existing session and its subscriptions
// [MQTT-3.1.2-4].
func TestCleanStartDiscardsSession(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	old := dialV5(t, n, "cs", cleanStart(false), sessionExpiry(60))
	old.subscribe("cs/t", 1)
	_ = old.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 0)
	c := dialV5(t, n, "cs", cleanStart(true))
	if c.connack.SessionPresent {
		t.Fatal("CONNACK Session Present = 1 after Clean Start, want 0 [MQTT-3.2.2-2]")
	}
	c.subscribe("cs/end", 0)
	pub := dialV5(t, n, "pub")
	pub.publish("cs/t", "old subscription", 1, false)
	pub.publish("cs/end", "end", 0, false)
	expectNoMessage(t, c.msgs, "end")
}

// A persistent session keeps its subscriptions and queues QoS 1 and 2
// messages while the client is offline [MQTT-3.1.2-5, MQTT-4.4.0-1].
func TestPersistentSessionQueuesWhileOffline(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	old := dialV5(t, n, "ps", cleanStart(false), sessionExpiry(60))
	old.subscribe("ps/t", 2)
	_ = old.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 0)
	pub := dialV5(t, n, "pub")
	pub.publish("ps/t", "q1", 1, false)
	pub.publish("ps/t", "q2", 2, false)
	c := dialV5(t, n, "ps", cleanStart(false), sessionExpiry(60))
	if !c.connack.SessionPresent {
		t.Fatal("CONNACK Session Present = 0, want 1 [MQTT-3.2.2-3]")
	}
	for _, want := range []msg{{Topic: "ps/t", Payload: "q1", QoS: 1}, {Topic: "ps/t", Payload: "q2", QoS: 2}} {
		if m := expectMessage(t, c.msgs, waitFor); m.Payload != want.Payload || m.QoS != want.QoS {
			t.Fatalf("got %v, want %v", m, want)
		}
	}
	pub.publish("ps/t", "live", 1, false)
	if m := expectMessage(t, c.msgs, waitFor); m.Payload != "live" {
		t.Fatalf("subscription not kept: got %v, want \"live\"", m)
	}
}

// The same with MQTT 3.1.1 Clean Session 0 [MQTT-3.1.2-4 (3.1.1)].
func TestPersistentSessionQueuesWhileOfflineV311(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	persistent := func(o *mqttOptions) { o.SetCleanSession(false) }
	old := dialV311(t, n, "ps", persistent)
	old.subscribe("ps/t", 1)
	old.Disconnect(100)
	waitConnected(t, n, 0)
	dialV311(t, n, "pub").publish("ps/t", "q1", 1, false)
	c := dialV311(t, n, "ps", persistent)
	if m := expectMessage(t, c.msgs, waitFor); m.Payload != "q1" || m.QoS != 1 {
		t.Fatalf("got %v, want \"q1\" at QoS 1", m)
	}
}

// The offline queue is bounded by MaxQueuedMessages: of 10 messages, the
// first 5 are kept and the rest dropped and counted.
func TestOfflineQueueIsBounded(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxQueuedMessages: 5})
	old := dialV5(t, n, "qb", cleanStart(false), sessionExpiry(60))
	old.subscribe("qb/t", 1)
	_ = old.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 0)
	pub := dialV5(t, n, "pub")
	for i := range 10 {
		pub.publish("qb/t", fmt.Sprint(i), 1, false)
	}
	c := dialV5(t, n, "qb", cleanStart(false), sessionExpiry(60))
	pub.publish("qb/t", "end", 1, false)
	got := collectUntil(t, c.msgs, "end")
	if len(got) != 5 {
		t.Fatalf("got %d queued messages %v, want 5", len(got), got)
	}
	for i, m := range got {
		if m.Payload != fmt.Sprint(i) {
			t.Fatalf("message %d is %q, want %q (oldest kept)", i, m.Payload, fmt.Sprint(i))
		}
	}
	if d := n.b.Stats().MessagesDropped; d < 5 {
		t.Errorf("Stats().MessagesDropped = %d, want >= 5", d)
	}
}

// A session whose Session Expiry Interval (1s) has passed is gone: the
// broker drops it and a later CONNECT finds no session [MQTT-3.1.2-23].
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	c := dialV5(t, n, "se", cleanStart(false), sessionExpiry(1))
	c.subscribe("se/t", 1)
	_ = c.Disconnect(&paho.Disconnect{})
	left := time.Now()
	waitConnected(t, n, 0)
	if s := n.b.Stats().Sessions; s != 1 {
		t.Fatalf("Sessions = %d right after disconnect, want 1", s)
	}
	eventually(t, 3*time.Second, func() error {
		if s := n.b.Stats().Sessions; s != 0 {
			return fmt.Errorf("%d sessions", s)
		}
		return nil
	})
	if d := time.Since(left); d < 900*time.Millisecond {
		t.Errorf("session ended after %s, want >= 1s", d)
	}
	if again := dialV5(t, n, "se", cleanStart(false), sessionExpiry(1)); again.connack.SessionPresent {
		t.Fatal("CONNACK Session Present = 1 after the session expired")
	}
}

// Unacknowledged QoS 1 messages are resent on resume, in order, with the
// same packet identifiers and DUP=1 [MQTT-4.4.0-1, MQTT-3.3.1-1].
func TestInflightRetransmittedOnResume(t *testing.T) {
	t.Parallel()
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{})
			cp := packet.Connect{ClientID: "rs", KeepAlive: 30}
			cp.Props.SessionExpiry, cp.Props.Present = 60, 1<<packet.PropSessionExpiry
			sub, _ := connectRaw(t, n, v, cp)
			sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "rs/t", QoS: 1}}})
			expectPacket[*packet.Suback](sub)
			pub := dialV5(t, n, "pub")
			var first []*packet.Publish
			for _, p := range []string{"a", "b", "c"} {
				pub.publish("rs/t", p, 1, false)
				p := expectPacket[*packet.Publish](sub)
				if p.Dup {
					t.Errorf("first delivery %s has DUP=1", describe(p))
				}
				first = append(first, p)
			}
			_ = sub.conn.Close()
			again, ack := connectRaw(t, n, v, cp)
			if !ack.SessionPresent {
				t.Fatal("CONNACK Session Present = 0, want 1")
			}
			for i, want := range first {
				p := expectPacket[*packet.Publish](again)
				if !p.Dup || p.PacketID != want.PacketID || string(p.Payload) != string(want.Payload) {
					t.Fatalf("resend %d: %s, want DUP=1 id=%d %q", i, describe(p), want.PacketID, want.Payload)
				}
			}
		})
	}
}

// A second connection with the same client identifier takes the session
// over; the old MQTT 5 connection gets DISCONNECT 0x8E [MQTT-3.1.4-3].
func TestTakeoverDisconnectsOldConnection(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	old := dialV5(t, n, "tk")
	c := dialV5(t, n, "tk")
	if d := old.expectServerDisconnect(); d.ReasonCode != byte(packet.SessionTakenOver) {
		t.Fatalf("old connection got DISCONNECT %#02x, want 0x8E", d.ReasonCode)
	}
	if rc := c.subscribe("tk/t", 1); rc != 1 {
		t.Fatalf("new connection: SUBACK %#02x, want 1", rc)
	}
}

// On resume the unacknowledged messages are resent first, then the ones
// queued behind the client's Receive Maximum, all in publish order
// [MQTT-4.4.0-1, MQTT-4.6.0-6].
func TestResumeRetransmitsBeforeQueued(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	cp := packet.Connect{Version: packet.V5, ClientID: "rq", KeepAlive: 30}
	cp.Props.SessionExpiry, cp.Props.ReceiveMaximum = 60, 2
	cp.Props.Set(packet.PropSessionExpiry)
	cp.Props.Set(packet.PropReceiveMaximum)
	sub, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "rq/t", QoS: 1})
	pub := dialV5(t, n, "pub")
	for i := range 5 {
		pub.publish("rq/t", fmt.Sprint(i), 1, false)
	}
	expectPacket[*packet.Publish](sub)
	expectPacket[*packet.Publish](sub)
	_ = sub.conn.Close()
	again, _ := connectRaw(t, n, packet.V5, cp)
	var got []string
	for len(got) < 5 {
		p := expectPacket[*packet.Publish](again)
		if p.Dup != (len(got) < 2) {
			t.Errorf("%s: DUP=%t, want %t", describe(p), p.Dup, len(got) < 2)
		}
		got = append(got, string(p.Payload))
		again.send(&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID})
	}
	if want := []string{"0", "1", "2", "3", "4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after resume got %q, want %q", got, want)
	}
}

// A QoS 2 delivery that got PUBREC but not PUBCOMP resumes with PUBREL,
// not with the PUBLISH again [MQTT-4.4.0-1, MQTT-4.3.3-*].
func TestQoS2ResumeResendsPubrel(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	cp := packet.Connect{Version: packet.V5, ClientID: "q2", KeepAlive: 30}
	cp.Props.SessionExpiry = 60
	cp.Props.Set(packet.PropSessionExpiry)
	sub, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "q2/t", QoS: 2})
	pub := dialV5(t, n, "pub")
	pub.publish("q2/t", "x", 2, false)
	p := expectPacket[*packet.Publish](sub)
	sub.send(&packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID})
	expectAck(t, sub, packet.PUBREL, p.PacketID)
	_ = sub.conn.Close()
	again, _ := connectRaw(t, n, packet.V5, cp)
	expectAck(t, again, packet.PUBREL, p.PacketID)
	again.send(&packet.Ack{Type: packet.PUBCOMP, PacketID: p.PacketID})
	pub.publish("q2/t", "end", 0, false)
	if p := expectPacket[*packet.Publish](again); string(p.Payload) != "end" {
		t.Fatalf("got %s, want only the sentinel after PUBREL/PUBCOMP", describe(p))
	}
}

// A 3.1.1 connection taken over by a new one with the same client id is
// closed [MQTT-3.1.4-2 (3.1.1)].
func TestTakeoverClosesOldConnectionV311(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	old, _ := connectRaw(t, n, packet.V311, packet.Connect{ClientID: "tk", CleanStart: true, KeepAlive: 30})
	dialV311(t, n, "tk")
	old.expectClosed()
}

// A Session Expiry Interval of 0 sent on DISCONNECT ends the session at
// once (§3.14.2.2.2).
func TestDisconnectEndsSession(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	c := dialV5(t, n, "de", cleanStart(false), sessionExpiry(60))
	_ = c.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: new(uint32)}})
	eventually(t, waitFor, func() error {
		if s := n.b.Stats().Sessions; s != 0 {
			return fmt.Errorf("%d sessions", s)
		}
		return nil
	})
}

// Setting a non-zero Session Expiry Interval on DISCONNECT after 0 on
// CONNECT is a Protocol Error: DISCONNECT 0x82 [MQTT-3.14.2-2].
func TestDisconnectCannotSetSessionExpiry(t *testing.T) {
	t.Parallel()
	r := connectRawV5(t, startBroker(t, broker.Config{}), "c", packet.Properties{})
	d := packet.Disconnect{}
	d.Props.SessionExpiry = 60
	d.Props.Set(packet.PropSessionExpiry)
	r.send(&d)
	r.expectDisconnect(packet.ProtocolError)
}

// A takeover with Clean Start 0 while the old connection is still open
// moves the session: the old connection gets DISCONNECT 0x8E, the new one
// Session Present 1 and the unacknowledged messages again with DUP=1
// [MQTT-3.1.4-3, MQTT-4.4.0-1].
func TestTakeoverResumesInflight(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	cp := packet.Connect{Version: packet.V5, ClientID: "tr", KeepAlive: 30}
	cp.Props.SessionExpiry = 60
	cp.Props.Set(packet.PropSessionExpiry)
	old, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, old, 1, 0, packet.Subscription{Filter: "tr/t", QoS: 1})
	dialV5(t, n, "pub").publish("tr/t", "x", 1, false)
	first := expectPacket[*packet.Publish](old)
	c, ack := connectRaw(t, n, packet.V5, cp)
	if !ack.SessionPresent {
		t.Fatal("CONNACK Session Present = 0 on takeover, want 1")
	}
	old.expectDisconnect(packet.SessionTakenOver)
	if p := expectPacket[*packet.Publish](c); !p.Dup || p.PacketID != first.PacketID || string(p.Payload) != "x" {
		t.Fatalf("got %s, want the unacknowledged PUBLISH again with DUP=1 id %d", describe(p), first.PacketID)
	}
}

// Receive Maximum is per connection: resuming with a smaller one (2), the
// broker resends no more unacknowledged PUBLISHes than it allows
// [MQTT-3.3.4-9, §4.9: the send quota is re-initialised per connection].
func TestResumeRespectsNewReceiveMaximum(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	cp := packet.Connect{Version: packet.V5, ClientID: "rr", KeepAlive: 30}
	cp.Props.SessionExpiry, cp.Props.ReceiveMaximum = 60, 10
	cp.Props.Set(packet.PropSessionExpiry)
	cp.Props.Set(packet.PropReceiveMaximum)
	sub, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "rr/t", QoS: 1})
	pub := dialV5(t, n, "pub")
	for i := range 5 {
		pub.publish("rr/t", fmt.Sprint(i), 1, false)
		expectPacket[*packet.Publish](sub)
	}
	_ = sub.conn.Close()
	cp.Props.ReceiveMaximum = 2
	again, _ := connectRaw(t, n, packet.V5, cp)
	expectPacket[*packet.Publish](again)
	expectPacket[*packet.Publish](again)
	pub.publish("rr/t", "end", 0, false)
	if p := expectPacket[*packet.Publish](again); string(p.Payload) != "end" {
		t.Fatalf("third unacknowledged PUBLISH %s with Receive Maximum 2, want the QoS 0 sentinel", describe(p))
	}
}

// A Session Expiry Interval above MaxSessionExpiry is capped, and CONNACK
// says so [MQTT-3.2.2-? §3.2.2.3.2].
func TestSessionExpiryCapped(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxSessionExpiry: 10})
	p := dialV5(t, n, "c", sessionExpiry(100)).connack.Properties
	if p == nil || p.SessionExpiryInterval == nil || *p.SessionExpiryInterval != 10 {
		t.Fatalf("CONNACK properties %+v, want Session Expiry Interval 10", p)
	}
}
