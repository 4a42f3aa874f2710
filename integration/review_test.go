package integration

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// publishes encodes PUBLISH packets with packet identifiers from..to, each
// carrying its identifier as payload.
func publishes(version byte, topic string, qos byte, from, to int) []byte {
	var b []byte
	for i := from; i <= to; i++ {
		p := packet.Publish{Topic: topic, QoS: qos, PacketID: uint16(i), Payload: []byte(fmt.Sprint(i))}
		b = p.AppendTo(b, version)
	}
	return b
}

// gate is a PublishObserver that holds the reader of a connection that
// publishes to "gate" until the test releases it. A connection that sends
// [PUBLISH gate, X] in one write has then read X but handles it only after
// what the test does meanwhile (such as a takeover): an interleaving that
// CPU scheduling also produces, made certain.
type gate struct {
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

// startGated starts a broker with a gate, released at the latest on cleanup.
func startGated(t *testing.T) (*node, *gate) {
	g := &gate{entered: make(chan struct{}, 1), open: make(chan struct{})}
	n := startBroker(t, broker.Config{}, broker.WithHooks(g))
	t.Cleanup(g.release) // before the broker's shutdown
	return n, g
}

func (g *gate) OnPublish(_ *broker.ClientInfo, m *broker.Message) {
	if m.Topic == "gate" {
		g.entered <- struct{}{}
		<-g.open
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// hold writes a PUBLISH to "gate" followed by then, and returns once the
// connection's reader is held at the gate.
func (g *gate) hold(r *rawClient, then ...packet.Packet) {
	r.t.Helper()
	b := publishes(r.version, "gate", 0, 0, 0)
	for _, p := range then {
		b = p.AppendTo(b, r.version)
	}
	r.write(b)
	select {
	case <-g.entered:
	case <-time.After(waitFor):
		r.t.Fatalf("no PUBLISH at the gate within %s", waitFor)
	}
}

// drain reads and discards until the broker closes the connection, so that
// everything the client sent before has been handled.
func drain(r *rawClient) {
	r.t.Helper()
	for {
		_, err := r.read(waitFor)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("connection still open after %s", waitFor)
		}
		if err != nil {
			return
		}
	}
}

// Acknowledgements held back by flow control go out in the order of the
// PUBLISH packets [MQTT-4.6.0-2], also while the publisher keeps sending (to
// a topic nobody subscribes to) as the subscriber's PUBACKs release them; and
// nothing is dropped. ReceiveMaximum 2048 lets the publisher have all 1110
// PUBLISHes unacknowledged.
func TestHeldBackAcksKeepPublishOrder(t *testing.T) {
	t.Parallel()
	const held, before, each = 10, 800, 30
	n := startBroker(t, broker.Config{MaxQueuedMessages: 5, ReceiveMaximum: 2048})
	cp := packet.Connect{ClientID: "sub", CleanStart: true, KeepAlive: 30}
	cp.Props.ReceiveMaximum = 1
	cp.Props.Set(packet.PropReceiveMaximum)
	sub, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "ho/t", QoS: 1})
	pub := connectRawV5(t, n, "pub", packet.Properties{})
	next := held + before + 1
	pub.write(append(publishes(packet.V5, "ho/t", 1, 1, held), publishes(packet.V5, "ho/none", 1, held+1, next-1)...))
	eventually(t, waitFor, func() error { // all handled, most acknowledgements held back
		if st := n.b.Stats(); st.MessagesReceived < int64(next-1) || st.PublishersThrottled == 0 {
			return fmt.Errorf("%d PUBLISHes handled, throttled %d times", st.MessagesReceived, st.PublishersThrottled)
		}
		return nil
	})
	for i := 1; i <= held; i++ {
		p := expectPacket[*packet.Publish](sub)
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("subscriber got %s, want payload %d", describe(p), i)
		}
		// The broker is busy with these when a PUBACK releases the held-back acks.
		pub.write(publishes(packet.V5, "ho/none", 1, next, next+each-1))
		next += each
		sub.send(&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID})
	}
	for i := 1; i < next; i++ {
		expectAck(t, pub, packet.PUBACK, uint16(i))
	}
	if d := n.b.Stats().MessagesDropped; d != 0 {
		t.Fatalf("%d messages dropped, want 0", d)
	}
}

// After a takeover with Clean Start 0 the queue behind the Receive Maximum
// keeps flowing to the new connection B, also when the old connection A's
// PUBACKs are handled after B has resumed [MQTT-4.4.0-1, MQTT-3.1.4-3]: A
// has read them, but its reader is held at the gate until then.
func TestTakeoverKeepsQueueFlowing(t *testing.T) {
	t.Parallel()
	n, g := startGated(t)
	cp := packet.Connect{ClientID: "tq", CleanStart: true, KeepAlive: 30}
	cp.Props.SessionExpiry, cp.Props.ReceiveMaximum = 300, 2
	cp.Props.Set(packet.PropSessionExpiry)
	cp.Props.Set(packet.PropReceiveMaximum)
	a, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, a, 1, 0, packet.Subscription{Filter: "tq/t", QoS: 1})
	pub := dialV5(t, n, "pub")
	for i := range 10 {
		pub.publish("tq/t", fmt.Sprint(i), 1, false)
	}
	p0, p1 := expectPacket[*packet.Publish](a), expectPacket[*packet.Publish](a)
	g.hold(a, &packet.Ack{Type: packet.PUBACK, PacketID: p0.PacketID}, &packet.Ack{Type: packet.PUBACK, PacketID: p1.PacketID})
	cp.CleanStart = false
	b, _ := connectRaw(t, n, packet.V5, cp)
	for _, want := range []*packet.Publish{p0, p1} { // resumed: still unacknowledged
		if p := expectPacket[*packet.Publish](b); !p.Dup || p.PacketID != want.PacketID {
			t.Fatalf("got %s, want %s again with DUP=1", describe(p), describe(want))
		}
	}
	g.release()
	drain(a) // A's PUBACKs are handled: "0" and "1" are done, "2" and "3" may go out
	// B acknowledges its copies of "0" and "1" only now, which refills nothing.
	b.send(&packet.Ack{Type: packet.PUBACK, PacketID: p0.PacketID})
	b.send(&packet.Ack{Type: packet.PUBACK, PacketID: p1.PacketID})
	for want := 2; want < 10; want++ {
		p := expectPacket[*packet.Publish](b)
		if string(p.Payload) != fmt.Sprint(want) {
			t.Fatalf("got %s, want %d", describe(p), want)
		}
		b.send(&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID})
	}
}

// Resuming with a smaller Receive Maximum, the unacknowledged PUBLISHes
// beyond the new window are resent later with DUP=1 and their original
// packet identifiers, not as new messages [MQTT-4.4.0-1, MQTT-3.3.1-1].
func TestResumeSmallerWindowKeepsPacketIDs(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	cp := packet.Connect{ClientID: "rk", KeepAlive: 30}
	cp.Props.SessionExpiry, cp.Props.ReceiveMaximum = 300, 10
	cp.Props.Set(packet.PropSessionExpiry)
	cp.Props.Set(packet.PropReceiveMaximum)
	sub, _ := connectRaw(t, n, packet.V5, cp)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "rk/t", QoS: 1})
	pub := dialV5(t, n, "pub")
	var first []*packet.Publish
	for i := range 5 {
		pub.publish("rk/t", fmt.Sprint(i), 1, false)
		first = append(first, expectPacket[*packet.Publish](sub))
	}
	_ = sub.conn.Close()
	cp.Props.ReceiveMaximum = 2
	again, ack := connectRaw(t, n, packet.V5, cp)
	if !ack.SessionPresent {
		t.Fatal("CONNACK Session Present = 0, want 1")
	}
	for i := 0; i < len(first); i += 2 {
		batch := first[i:min(i+2, len(first))]
		for _, want := range batch {
			if p := expectPacket[*packet.Publish](again); !p.Dup || p.PacketID != want.PacketID || string(p.Payload) != string(want.Payload) {
				t.Fatalf("resend: %s, want DUP=1 id=%d %q", describe(p), want.PacketID, want.Payload)
			}
		}
		for _, p := range batch {
			again.send(&packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID})
		}
	}
	pub.publish("rk/t", "end", 1, false)
	if p := expectPacket[*packet.Publish](again); p.Dup || string(p.Payload) != "end" {
		t.Fatalf("got %s, want the new message \"end\" with DUP=0", describe(p))
	}
}

// A DISCONNECT 0x00 followed at once by a new connection with the same
// client id never publishes the will [MQTT-3.1.2-10, MQTT-3.14.4-3]. Only a
// connection that got DISCONNECT 0x8E (the broker took it over before it
// read its DISCONNECT) has its will published, and then it must be
// [MQTT-3.1.4-3, MQTT-3.1.2-8].
func TestCleanDisconnectThenReconnectPublishesNoWill(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/#", 0)
	takenOver := map[string]bool{}
	var prev *rawClient
	prevTopic := ""
	for i := range 21 { // each connection but the last has a will
		cp := packet.Connect{ClientID: "dw", CleanStart: true, KeepAlive: 30}
		if i < 20 {
			cp.WillFlag, cp.WillTopic, cp.WillPayload = true, fmt.Sprintf("w/%d", i), []byte("will")
		}
		c, _ := connectRaw(t, n, packet.V5, cp)
		if prev != nil { // its end, and so its will decision, is done once it is closed
			if p, err := prev.read(waitFor); err == nil {
				if d, ok := p.(*packet.Disconnect); ok && d.ReasonCode == packet.SessionTakenOver {
					takenOver[prevTopic] = true
				}
				drain(prev)
			}
			_ = prev.conn.Close()
		}
		c.send(&packet.Disconnect{})
		prev, prevTopic = c, cp.WillTopic
	}
	prev.expectClosed()
	watcher.publish("w/end", "end", 0, false)
	wills := map[string]bool{}
	for _, m := range collectUntil(t, watcher.msgs, "end") {
		wills[m.Topic] = true
	}
	for i := range 20 {
		if w := fmt.Sprintf("w/%d", i); wills[w] != takenOver[w] {
			t.Errorf("%s: will published %t, connection taken over before its DISCONNECT was read %t", w, wills[w], takenOver[w])
		}
	}
	t.Logf("%d of 20 connections taken over before their DISCONNECT was read", len(takenOver))
}

// A DISCONNECT with Session Expiry Interval 0 handled on a connection that
// has been taken over does not end the new owner's session: the session
// belongs to the new Network Connection [MQTT-3.1.4-3, §3.14.2.2.2]. A has
// read its DISCONNECT but is held at the gate until B has taken over.
func TestTakenOverDisconnectKeepsSession(t *testing.T) {
	t.Parallel()
	n, g := startGated(t)
	cp := packet.Connect{ClientID: "tk", KeepAlive: 30}
	cp.Props.SessionExpiry = 300
	cp.Props.Set(packet.PropSessionExpiry)
	a, _ := connectRaw(t, n, packet.V5, cp)
	d := packet.Disconnect{} // Session Expiry Interval 0
	d.Props.Set(packet.PropSessionExpiry)
	g.hold(a, &d)
	b, _ := connectRaw(t, n, packet.V5, cp)
	g.release()
	drain(a) // A's DISCONNECT is handled
	b.send(&packet.Disconnect{})
	b.expectClosed()
	if _, ack := connectRaw(t, n, packet.V5, cp); !ack.SessionPresent {
		t.Fatal("CONNACK Session Present = 0: the taken-over connection's DISCONNECT ended the session")
	}
}

// A DISCONNECT 0x00 that the broker has read before a new connection takes
// the session over discards the will all the same [MQTT-3.1.2-10]: the
// deterministic form of the race TestCleanDisconnectThenReconnectPublishesNoWill
// runs into now and then.
func TestDisconnectReadBeforeTakeoverPublishesNoWill(t *testing.T) {
	t.Parallel()
	n, g := startGated(t)
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/#", 0)
	cp := packet.Connect{ClientID: "dw", CleanStart: true, KeepAlive: 30}
	cp.WillFlag, cp.WillTopic, cp.WillPayload = true, "w/a", []byte("will")
	a, _ := connectRaw(t, n, packet.V5, cp)
	g.hold(a, &packet.Disconnect{})
	cp.WillFlag = false
	b, _ := connectRaw(t, n, packet.V5, cp)
	g.release()
	drain(a) // A's DISCONNECT is handled
	b.send(&packet.Disconnect{})
	b.expectClosed() // B's CONNECT, and the will decision, are done
	watcher.publish("w/end", "end", 0, false)
	expectNoMessage(t, watcher.msgs, "end")
}

// An MQTT 3.1.1 client, told no Receive Maximum, may have more than 32 QoS 2
// messages unreleased: 50 PUBLISHes get 50 PUBRECs and no disconnect.
func TestQoS2UnreleasedUnlimitedV311(t *testing.T) {
	t.Parallel()
	r := connectedRaw(t, startBroker(t, broker.Config{}), packet.V311)
	r.write(publishes(packet.V311, "q2/t", 2, 1, 50))
	for i := 1; i <= 50; i++ {
		expectAck(t, r, packet.PUBREC, uint16(i))
	}
	for i := 1; i <= 50; i++ {
		r.send(&packet.Ack{Type: packet.PUBREL, PacketID: uint16(i)})
		expectAck(t, r, packet.PUBCOMP, uint16(i))
	}
	r.send(&packet.Pingreq{})
	expectPacket[*packet.Pingresp](r)
}
