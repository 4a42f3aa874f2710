package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

func ptr[T any](v T) *T { return &v }

// connectRawV5 connects a raw MQTT 5 client with clean start and the given
// CONNECT properties, and fails unless it is accepted.
func connectRawV5(t *testing.T, n *node, clientID string, props packet.Properties) *rawClient {
	t.Helper()
	r, ack := connectRaw(t, n, packet.V5, packet.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30, Props: props})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#02x", byte(ack.ReasonCode))
	}
	return r
}

// subscribeRaw subscribes a raw client and returns the SUBACK codes.
func subscribeRaw(t *testing.T, r *rawClient, pid uint16, subID uint32, subs ...packet.Subscription) []packet.ReasonCode {
	t.Helper()
	s := packet.Subscribe{PacketID: pid, Subscriptions: subs}
	if subID != 0 {
		s.Props.SubscriptionIDs = []uint32{subID}
		s.Props.Set(packet.PropSubscriptionID)
	}
	r.send(&s)
	return expectPacket[*packet.Suback](r).ReasonCodes
}

// A shared subscription delivers each message to exactly one member,
// spreading them over the members [MQTT-4.8.2-4 .. §4.8.2].
func TestSharedSubscription(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a, b := dialV5(t, n, "a"), dialV5(t, n, "b")
	for _, c := range []*v5Client{a, b} {
		c.subscribe("$share/g/sh/t", 1)
		c.subscribe("sh/end", 1)
	}
	pub := dialV5(t, n, "pub")
	for i := range 10 {
		pub.publish("sh/t", fmt.Sprint(i), 1, false)
	}
	pub.publish("sh/end", "end", 1, false)
	gotA, gotB := collectUntil(t, a.msgs, "end"), collectUntil(t, b.msgs, "end")
	seen := map[string]int{}
	for _, m := range append(gotA, gotB...) {
		seen[m.Payload]++
	}
	for i := range 10 {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("message %d delivered %d times, want once", i, seen[fmt.Sprint(i)])
		}
	}
	if len(gotA) == 0 || len(gotB) == 0 {
		t.Errorf("a got %d, b got %d: want both to get some", len(gotA), len(gotB))
	}
}

// A topic alias set by the client (topic + alias) resolves a later PUBLISH
// with an empty topic (MQTT 5 §3.3.2.3.4).
func TestTopicAliasFromClient(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("ta/t", 1)
	pub := dialV5(t, n, "pub")
	pub.publishWith(&paho.Publish{Topic: "ta/t", QoS: 1, Payload: []byte("set"), Properties: &paho.PublishProperties{TopicAlias: ptr[uint16](1)}})
	pub.publishWith(&paho.Publish{Topic: "", QoS: 1, Payload: []byte("use"), Properties: &paho.PublishProperties{TopicAlias: ptr[uint16](1)}})
	for _, want := range []string{"set", "use"} {
		if m := expectMessage(t, sub.msgs, waitFor); m.Topic != "ta/t" || m.Payload != want {
			t.Fatalf("got %v, want ta/t %q", m, want)
		}
	}
}

// A topic alias of 0 or above the broker's Topic Alias Maximum gets
// DISCONNECT 0x94 [MQTT-3.3.2-8, MQTT-3.3.2-9].
func TestTopicAliasInvalid(t *testing.T) {
	t.Parallel()
	for _, alias := range []uint16{0, 17} {
		t.Run(fmt.Sprint(alias), func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{TopicAliasMaximum: 16})
			c := connectRawV5(t, n, "c", packet.Properties{})
			p := packet.Publish{Topic: "ta/t", Payload: []byte("x")}
			p.Props.TopicAlias = alias
			p.Props.Set(packet.PropTopicAlias)
			c.send(&p)
			c.expectDisconnect(packet.TopicAliasInvalid)
		})
	}
}

// A client with Topic Alias Maximum gets a topic alias from the broker: the
// first PUBLISH carries topic and alias, the next the alias alone, never
// above the client's maximum (MQTT 5 §3.3.2.3.4, [MQTT-3.3.2-10]).
func TestTopicAliasToClient(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	var props packet.Properties
	props.TopicAliasMaximum = 2
	props.Set(packet.PropTopicAliasMaximum)
	sub := connectRawV5(t, n, "sub", props)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "tc/t", QoS: 0})
	pub := dialV5(t, n, "pub")
	pub.publish("tc/t", "1", 0, false)
	pub.publish("tc/t", "2", 0, false)
	first, second := expectPacket[*packet.Publish](sub), expectPacket[*packet.Publish](sub)
	a := first.Props.TopicAlias
	if first.Topic != "tc/t" || !first.Props.Has(packet.PropTopicAlias) || a == 0 || a > 2 {
		t.Fatalf("first PUBLISH: %s alias %d, want topic tc/t with an alias in 1..2", describe(first), a)
	}
	if second.Topic != "" || second.Props.TopicAlias != a || string(second.Payload) != "2" {
		t.Fatalf("second PUBLISH: %s alias %d, want an empty topic with alias %d", describe(second), second.Props.TopicAlias, a)
	}
}

// A queued message whose Message Expiry Interval (1s) has passed while the
// session was offline is not delivered [MQTT-3.3.2-5]. Expiry is a clock
// condition, so the test waits for the clock.
func TestMessageExpiry(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	old := dialV5(t, n, "me", cleanStart(false), sessionExpiry(60))
	old.subscribe("me/t", 1)
	_ = old.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 0)
	pub := dialV5(t, n, "pub")
	pub.publishWith(&paho.Publish{Topic: "me/t", QoS: 1, Payload: []byte("expiring"), Properties: &paho.PublishProperties{MessageExpiry: ptr[uint32](1)}})
	pub.publish("me/t", "end", 1, false)
	expired := time.Now().Add(1100 * time.Millisecond)
	eventually(t, 3*time.Second, func() error {
		if time.Now().Before(expired) {
			return fmt.Errorf("message not expired yet")
		}
		return nil
	})
	c := dialV5(t, n, "me", cleanStart(false), sessionExpiry(60))
	expectNoMessage(t, c.msgs, "end")
}

// Message Expiry Interval is forwarded reduced by the time the message
// waited [MQTT-3.3.2-6].
func TestMessageExpiryForwarded(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("mf/t", 1)
	pub := dialV5(t, n, "pub")
	pub.publishWith(&paho.Publish{Topic: "mf/t", QoS: 1, Payload: []byte("x"), Properties: &paho.PublishProperties{MessageExpiry: ptr[uint32](60)}})
	m := expectMessage(t, sub.msgs, waitFor)
	if e := m.Props.MessageExpiry; e == nil || *e == 0 || *e > 60 {
		t.Fatalf("Message Expiry Interval %v, want 1..60", e)
	}
}

// The broker never has more unacknowledged QoS 1 PUBLISHes towards a
// client than its Receive Maximum (2) [MQTT-3.3.4-9].
func TestReceiveMaximumFromClient(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	var props packet.Properties
	props.ReceiveMaximum = 2
	props.Set(packet.PropReceiveMaximum)
	sub := connectRawV5(t, n, "sub", props)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "rm/t", QoS: 1})
	pub := dialV5(t, n, "pub")
	for i := range 5 {
		pub.publish("rm/t", fmt.Sprint(i), 1, false)
	}
	pub.publish("rm/t", "end", 0, false)
	p0, p1 := expectPacket[*packet.Publish](sub), expectPacket[*packet.Publish](sub)
	if s := expectPacket[*packet.Publish](sub); string(s.Payload) != "end" {
		t.Fatalf("third PUBLISH with 2 unacknowledged: %s, want the QoS 0 sentinel", describe(s))
	}
	got := []string{string(p0.Payload), string(p1.Payload)}
	unacked := []uint16{p0.PacketID, p1.PacketID}
	for len(got) < 5 {
		sub.send(&packet.Ack{Type: packet.PUBACK, PacketID: unacked[0]})
		p := expectPacket[*packet.Publish](sub)
		unacked = append(unacked[1:], p.PacketID)
		got = append(got, string(p.Payload))
	}
	if want := []string{"0", "1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A client exceeding the broker's Receive Maximum with QoS 2 PUBLISHes
// gets DISCONNECT 0x93 [MQTT-3.3.4-9].
func TestReceiveMaximumExceeded(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{ReceiveMaximum: 2})
	c := connectRawV5(t, n, "c", packet.Properties{})
	for pid := uint16(1); pid <= 2; pid++ {
		c.send(&packet.Publish{QoS: 2, PacketID: pid, Topic: "rx/t", Payload: []byte("x")})
		expectAck(t, c, packet.PUBREC, pid)
	}
	c.send(&packet.Publish{QoS: 2, PacketID: 3, Topic: "rx/t", Payload: []byte("x")})
	c.expectDisconnect(packet.ReceiveMaximumExceeded)
}

// Messages larger than the client's Maximum Packet Size are not sent to it;
// smaller ones are [MQTT-3.1.2-24].
func TestMaximumPacketSize(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub", maximumPacketSize(100))
	sub.subscribe("mp/t", 1)
	pub := dialV5(t, n, "pub")
	pub.publish("mp/t", strings.Repeat("x", 200), 1, false)
	pub.publish("mp/t", "small", 1, false)
	expectNoMessage(t, sub.msgs, "small")
}

// Subscription Identifiers are delivered with the message, and one copy
// for overlapping subscriptions carries all of them [MQTT-3.3.4-3,
// MQTT-3.3.4-4].
func TestSubscriptionIdentifiers(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := connectRawV5(t, n, "sub", packet.Properties{})
	subscribeRaw(t, sub, 1, 1, packet.Subscription{Filter: "si/+", QoS: 0})
	subscribeRaw(t, sub, 2, 2, packet.Subscription{Filter: "si/b", QoS: 0})
	pub := dialV5(t, n, "pub")
	pub.publish("si/a", "a", 0, false)
	if p := expectPacket[*packet.Publish](sub); !slices.Equal(p.Props.SubscriptionIDs, []uint32{1}) {
		t.Fatalf("si/a: Subscription Identifiers %v, want [1]", p.Props.SubscriptionIDs)
	}
	pub.publish("si/b", "b", 0, false)
	pub.publish("si/a", "end", 0, false)
	p := expectPacket[*packet.Publish](sub)
	ids := slices.Sorted(slices.Values(p.Props.SubscriptionIDs))
	if string(p.Payload) != "b" || !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("si/b: %s with ids %v, want one copy with ids [1 2]", describe(p), p.Props.SubscriptionIDs)
	}
	if p := expectPacket[*packet.Publish](sub); string(p.Payload) != "end" {
		t.Fatalf("got %s, want the sentinel (a single copy of si/b)", describe(p))
	}
}

// No Local: a client's own messages are not sent back to it [MQTT-3.8.3-3].
func TestNoLocal(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	c := dialV5(t, n, "self")
	c.subscribeWith(nil, paho.SubscribeOptions{Topic: "nl/t", QoS: 1, NoLocal: true})
	c.publish("nl/t", "own", 1, false)
	dialV5(t, n, "other").publish("nl/t", "end", 1, false)
	expectNoMessage(t, c.msgs, "end")
}

// Response Topic and Correlation Data are forwarded unaltered
// [MQTT-3.3.2-15, MQTT-3.3.2-16].
func TestRequestResponseProperties(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "responder")
	sub.subscribe("req/t", 1)
	dialV5(t, n, "requester").publishWith(&paho.Publish{Topic: "req/t", QoS: 1, Payload: []byte("q"),
		Properties: &paho.PublishProperties{ResponseTopic: "resp/t", CorrelationData: []byte{0, 1, 2, 0xFF}}})
	p := expectMessage(t, sub.msgs, waitFor).Props
	if p == nil || p.ResponseTopic != "resp/t" || string(p.CorrelationData) != "\x00\x01\x02\xff" {
		t.Fatalf("properties %+v, want response topic resp/t and correlation data 00 01 02 ff", p)
	}
}

// User Properties are forwarded unaltered and in order, duplicates
// included [MQTT-3.3.2-17, MQTT-3.3.2-18].
func TestUserPropertiesForwardedInOrder(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("up/t", 1)
	want := paho.UserProperties{{Key: "b", Value: "1"}, {Key: "a", Value: "2"}, {Key: "b", Value: "3"}, {Key: "", Value: ""}}
	dialV5(t, n, "pub").publishWith(&paho.Publish{Topic: "up/t", QoS: 1, Payload: []byte("x"), Properties: &paho.PublishProperties{User: want}})
	p := expectMessage(t, sub.msgs, waitFor).Props
	if p == nil || !slices.Equal(p.User, want) {
		t.Fatalf("user properties %v, want %v", p, want)
	}
}

// Content Type and Payload Format Indicator are forwarded unaltered
// [MQTT-3.3.2-4, MQTT-3.3.2-20].
func TestContentTypeAndPayloadFormat(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("ct/t", 1)
	dialV5(t, n, "pub").publishWith(&paho.Publish{Topic: "ct/t", QoS: 1, Payload: []byte(`{"a":1}`),
		Properties: &paho.PublishProperties{ContentType: "application/json", PayloadFormat: ptr[byte](1)}})
	p := expectMessage(t, sub.msgs, waitFor).Props
	if p == nil || p.ContentType != "application/json" || p.PayloadFormat == nil || *p.PayloadFormat != 1 {
		t.Fatalf("properties %+v, want content type application/json and payload format 1", p)
	}
}

// An empty client identifier gets an Assigned Client Identifier
// [MQTT-3.1.3-6, MQTT-3.2.2-16].
func TestAssignedClientIdentifier(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a, b := dialV5(t, n, ""), dialV5(t, n, "")
	ida, idb := a.connack.Properties.AssignedClientID, b.connack.Properties.AssignedClientID
	if ida == "" || idb == "" || ida == idb {
		t.Fatalf("assigned client identifiers %q and %q, want two distinct non-empty ones", ida, idb)
	}
}

// Shutdown sends v5 clients DISCONNECT 0x8B Server shutting down.
func TestShutdownSendsServerShuttingDown(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	c := dialV5(t, n, "c")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := c.expectServerDisconnect(); d.ReasonCode != byte(packet.ServerShuttingDown) {
		t.Fatalf("DISCONNECT %#02x, want 0x8B", d.ReasonCode)
	}
}

// Retained messages sent at subscription time respect the client's Maximum
// Packet Size too [MQTT-3.1.2-24]; the raw client shows what arrives.
func TestMaximumPacketSizeRetained(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	pub := dialV5(t, n, "pub")
	pub.publish("mr/big", strings.Repeat("x", 200), 1, true)
	pub.publish("mr/small", "small", 1, true)
	var props packet.Properties
	props.MaximumPacketSize = 100
	props.Set(packet.PropMaximumPacketSize)
	sub := connectRawV5(t, n, "sub", props)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "mr/+", QoS: 0})
	p := expectPacket[*packet.Publish](sub)
	if size := len(p.AppendTo(nil, packet.V5)); size > 100 {
		t.Fatalf("got a %d-byte PUBLISH (%s) with Maximum Packet Size 100", size, p.Topic)
	}
}

// Retained messages are not sent for a new shared subscription (§4.8.2).
func TestSharedSubscriptionGetsNoRetained(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	pub := dialV5(t, n, "pub")
	pub.publish("sr/t", "retained", 1, true)
	sub := dialV5(t, n, "sub")
	sub.subscribe("$share/g/sr/t", 1)
	pub.publish("sr/t", "end", 1, false)
	expectNoMessage(t, sub.msgs, "end")
}

// No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82
// [MQTT-3.8.3-4].
func TestSharedSubscriptionNoLocalIsProtocolError(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	c := connectRawV5(t, n, "c", packet.Properties{})
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$share/g/t", QoS: 1, NoLocal: true}}})
	c.expectDisconnect(packet.ProtocolError)
}

// A client may map an existing topic alias to another topic; later
// alias-only PUBLISHes use the new mapping (§3.3.2.3.4).
func TestTopicAliasRemapped(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("tr/#", 1)
	c := connectRawV5(t, n, "pub", packet.Properties{})
	for i, topic := range []string{"tr/a", "", "tr/b", ""} {
		p := packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))}
		p.Props.TopicAlias = 1
		p.Props.Set(packet.PropTopicAlias)
		c.send(&p)
		expectAck(t, c, packet.PUBACK, uint16(i+1))
	}
	var got []string
	for range 4 {
		got = append(got, expectMessage(t, sub.msgs, waitFor).Topic)
	}
	if want := []string{"tr/a", "tr/a", "tr/b", "tr/b"}; !slices.Equal(got, want) {
		t.Fatalf("topics %q, want %q", got, want)
	}
}

// A PUBLISH dropped for the client's Maximum Packet Size must not leave a
// topic alias behind: the next PUBLISH on that topic must carry the topic
// name, since the client never learned the alias (§3.3.2.3.4). The first
// message (99 bytes) fits only without the 3-byte alias property.
func TestTopicAliasNotAssumedAfterDrop(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	var props packet.Properties
	props.TopicAliasMaximum, props.MaximumPacketSize = 4, 100
	props.Set(packet.PropTopicAliasMaximum)
	props.Set(packet.PropMaximumPacketSize)
	sub := connectRawV5(t, n, "sub", props)
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "ab/t", QoS: 0})
	pub := dialV5(t, n, "pub")
	pub.publish("ab/t", strings.Repeat("x", 90), 0, false)
	pub.publish("ab/t", "small", 0, false)
	for {
		p := expectPacket[*packet.Publish](sub)
		if size := len(p.AppendTo(nil, packet.V5)); size > 100 {
			t.Fatalf("got a %d-byte PUBLISH with Maximum Packet Size 100", size)
		}
		if string(p.Payload) == "small" {
			if p.Topic != "ab/t" {
				t.Fatalf("%s with alias %d: the client never saw that alias mapped", describe(p), p.Props.TopicAlias)
			}
			return
		}
	}
}

// Each shared group gets its own copy; within a group one member gets it
// (§4.8.2).
func TestSharedSubscriptionGroups(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a, b := dialV5(t, n, "a"), dialV5(t, n, "b")
	a.subscribe("$share/g1/sg/+", 1)
	b.subscribe("$share/g2/sg/+", 1)
	dialV5(t, n, "pub").publish("sg/t", "m", 1, false)
	for _, c := range []*v5Client{a, b} {
		if m := expectMessage(t, c.msgs, waitFor); m.Topic != "sg/t" {
			t.Fatalf("got %v, want sg/t", m)
		}
	}
}

// A Will Message carries its properties (Content Type, Response Topic,
// User Properties) to subscribers (§3.1.3.2). Raw CONNECT: paho.golang
// v0.23.0 does not encode a will's Content Type or Response Topic.
func TestWillPropertiesForwarded(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("wp/t", 1)
	cp := packet.Connect{ClientID: "dying", CleanStart: true, KeepAlive: 30,
		WillFlag: true, WillQoS: 1, WillTopic: "wp/t", WillPayload: []byte("gone")}
	cp.WillProps.ContentType, cp.WillProps.ResponseTopic = "text/plain", "wp/r"
	cp.WillProps.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	for _, id := range []packet.PropID{packet.PropContentType, packet.PropResponseTopic, packet.PropUserProperty} {
		cp.WillProps.Set(id)
	}
	r, _ := connectRaw(t, n, packet.V5, cp)
	_ = r.conn.Close()
	p := expectMessage(t, watcher.msgs, waitFor).Props
	if p == nil || p.ContentType != "text/plain" || p.ResponseTopic != "wp/r" || len(p.User) != 1 || p.User[0].Key != "k" {
		t.Fatalf("will properties %+v, want content type, response topic and user property", p)
	}
}

// When a shared group member's session ends, the group's messages all go
// to the members left (§4.8.2).
func TestSharedSubscriptionMemberLeaves(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	a, b := dialV5(t, n, "a"), dialV5(t, n, "b")
	a.subscribe("$share/g/sl/t", 1)
	b.subscribe("$share/g/sl/t", 1)
	b.subscribe("sl/end", 1)
	_ = a.Disconnect(&paho.Disconnect{})
	waitConnected(t, n, 1)
	pub := dialV5(t, n, "pub")
	for i := range 4 {
		pub.publish("sl/t", fmt.Sprint(i), 1, false)
	}
	pub.publish("sl/end", "end", 1, false)
	if got := collectUntil(t, b.msgs, "end"); len(got) != 4 {
		t.Fatalf("remaining member got %d of 4 messages: %v", len(got), got)
	}
}
