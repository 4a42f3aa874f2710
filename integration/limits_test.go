package integration

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// connectedRaw returns an accepted raw client of version.
func connectedRaw(t *testing.T, n *node, version byte) *rawClient {
	t.Helper()
	r, ack := connectRaw(t, n, version, packet.Connect{ClientID: "raw", CleanStart: true, KeepAlive: 30})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#02x", byte(ack.ReasonCode))
	}
	return r
}

// expectRefused expects the 3.1.1 close or the v5 DISCONNECT with rc (or
// one of also, where the specification leaves the choice open).
func expectRefused(r *rawClient, rc packet.ReasonCode, also ...packet.ReasonCode) {
	r.t.Helper()
	if r.version != packet.V5 {
		r.expectClosed()
		return
	}
	d := expectPacket[*packet.Disconnect](r)
	if d.ReasonCode != rc && !slices.Contains(also, d.ReasonCode) {
		r.t.Fatalf("DISCONNECT reason %#02x (%v), want %#02x (%v)", byte(d.ReasonCode), d.ReasonCode, byte(rc), rc)
	}
	r.expectClosed()
}

// forVersions runs f as parallel subtests for 3.1.1 and 5.
func forVersions(t *testing.T, f func(t *testing.T, version byte)) {
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			f(t, v)
		})
	}
}

// A Remaining Length of five bytes is malformed: 3.1.1 closes, v5 sends
// DISCONNECT 0x81 [MQTT-1.5.5-1 / §2.1.4, MQTT-4.13.1-1].
func TestRemainingLengthTooLong(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		r.write(fixedHeader(packet.PUBLISH, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F))
		expectRefused(r, packet.MalformedPacket)
	})
}

// The same before CONNECT: the connection is closed.
func TestRemainingLengthTooLongBeforeConnect(t *testing.T) {
	t.Parallel()
	r := dialRaw(t, startBroker(t, broker.Config{}), packet.V5)
	r.write(fixedHeader(packet.CONNECT, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F))
	r.expectClosed()
}

// A packet declaring 256 MB, above MaxPacketSize, is refused from its
// header (v5: DISCONNECT 0x95 §3.2.2.3.6, §4.13) without the broker
// allocating for it.
func TestDeclaredHugePacket(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r.write(fixedHeader(packet.PUBLISH, 0, 0xFF, 0xFF, 0xFF, 0x7F))
		r.write([]byte{0, 3, 'a', '/', 'b'})
		expectRefused(r, packet.PacketTooLarge)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 128<<20 {
			t.Errorf("allocated %d MiB while refusing the packet", grew>>20)
		}
	})
}

// A topic that is not valid UTF-8 is malformed: 3.1.1 closes, v5 sends
// DISCONNECT 0x81 [MQTT-1.5.4-1 / MQTT-1.5.3-1 (3.1.1)].
func TestInvalidUTF8Topic(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		r.send(&packet.Publish{Topic: "a/\xc3\x28", Payload: []byte("x")})
		expectRefused(r, packet.MalformedPacket)
	})
}

// A wildcard in a PUBLISH topic is refused: v5 DISCONNECT 0x90
// [MQTT-3.3.2-2].
func TestWildcardInPublishTopic(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		r.send(&packet.Publish{Topic: "a/+", Payload: []byte("x")})
		expectRefused(r, packet.TopicNameInvalid)
	})
}

// A topic of 65,000 levels (beyond MaxTopicLevels) gets DISCONNECT 0x90.
func TestTooManyTopicLevels(t *testing.T) {
	t.Parallel()
	r := connectedRaw(t, startBroker(t, broker.Config{}), packet.V5)
	r.send(&packet.Publish{Topic: strings.Repeat("/", 64999), Payload: []byte("x")})
	r.expectDisconnect(packet.TopicNameInvalid)
}

// A connection that sends nothing is closed after ConnectTimeout (§3.1:
// "SHOULD close the Network Connection" if no CONNECT arrives in time).
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	r := dialRaw(t, startBroker(t, broker.Config{ConnectTimeout: 300 * time.Millisecond}), packet.V5)
	start := time.Now()
	r.expectClosedWithin(2 * time.Second)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %s, want about 300ms", d)
	}
}

// Beyond MaxConnections a CONNECT gets CONNACK 0x97 (v5) or return code 3
// (3.1.1) and the connection is closed.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxConnections: 2})
	dialV5(t, n, "one")
	dialV5(t, n, "two")
	for v, want := range map[byte]packet.ReasonCode{packet.V5: packet.QuotaExceeded, packet.V311: packet.ConnRefusedServerUnavailable} {
		r, ack := connectRaw(t, n, v, packet.Connect{ClientID: "three", CleanStart: true, KeepAlive: 30})
		if ack.ReasonCode != want {
			t.Errorf("v%d: CONNACK %#02x, want %#02x", v, byte(ack.ReasonCode), byte(want))
		}
		r.expectClosed()
	}
}

// A protocol name other than "MQTT" closes the connection [MQTT-3.1.2-1].
func TestBadProtocolName(t *testing.T) {
	t.Parallel()
	r := dialRaw(t, startBroker(t, broker.Config{}), packet.V311)
	body := []byte{0, 2, 'h', 'j', 4, 0x02, 0, 30, 0, 1, 'c'}
	r.write(append(fixedHeader(packet.CONNECT, 0, byte(len(body))), body...))
	r.expectClosed()
}

// A second CONNECT is a protocol error: 3.1.1 closes, v5 sends DISCONNECT
// 0x82 [MQTT-3.1.0-2].
func TestSecondConnect(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		r.send(&packet.Connect{Version: v, ClientID: "raw", CleanStart: true, KeepAlive: 30})
		expectRefused(r, packet.ProtocolError)
	})
}

// A 3.1.1 CONNECT with an empty client id and Clean Session 0 gets return
// code 2 and is closed [MQTT-3.1.3-8].
func TestEmptyClientIDWithoutCleanSessionV311(t *testing.T) {
	t.Parallel()
	r, ack := connectRaw(t, startBroker(t, broker.Config{}), packet.V311, packet.Connect{KeepAlive: 30})
	if ack.ReasonCode != packet.ConnRefusedIdentifier {
		t.Fatalf("CONNACK %#02x, want 0x02", byte(ack.ReasonCode))
	}
	r.expectClosed()
}

// A SUBSCRIBE filter beyond MaxTopicLevels is refused in its SUBACK: 0x8F
// (v5) or 0x80 (3.1.1).
func TestSubscribeTooManyLevels(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{MaxTopicLevels: 8}), v)
		r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: strings.Repeat("a/", 9) + "a"}, {Filter: "ok/#"}}})
		want := []packet.ReasonCode{packet.TopicFilterInvalid, 0}
		if v != packet.V5 {
			want[0] = packet.UnspecifiedError
		}
		if got := expectPacket[*packet.Suback](r).ReasonCodes; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("SUBACK %v, want %v", got, want)
		}
	})
}

// SUBSCRIBE with reserved flags other than 0010 is malformed: 3.1.1
// closes, v5 sends DISCONNECT 0x81 [MQTT-3.8.1-1].
func TestSubscribeReservedFlags(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		b := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}}).AppendTo(nil, v)
		b[0] &^= 0x02
		r.write(b)
		expectRefused(r, packet.MalformedPacket)
	})
}

// A packet only servers send (CONNACK) is a protocol error from a client:
// 3.1.1 closes, v5 sends DISCONNECT 0x82 [MQTT-4.8.0-1 (3.1.1), §4.13].
func TestServerOnlyPacketFromClient(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		r.send(&packet.Connack{})
		expectRefused(r, packet.ProtocolError)
	})
}

// publishBytes encodes p for version and lets patch alter the bytes.
func publishBytes(p packet.Publish, version byte, patch func([]byte)) []byte {
	b := p.AppendTo(nil, version)
	if patch != nil {
		patch(b)
	}
	return b
}

// Malformed packets and protocol errors after CONNECT: 3.1.1 closes
// [MQTT-4.8.0-1 (3.1.1)], v5 sends DISCONNECT with the code §4.13 gives.
func TestMalformedPackets(t *testing.T) {
	t.Parallel()
	pub := packet.Publish{Topic: "a/b", Payload: []byte("x")}
	for _, tc := range []struct {
		name  string
		bytes func(version byte) []byte
		want  packet.ReasonCode
	}{
		{"publish QoS 3 [MQTT-3.3.1-4]", func(v byte) []byte { return publishBytes(pub, v, func(b []byte) { b[0] |= 0x06 }) }, packet.MalformedPacket},
		{"DUP on QoS 0 [MQTT-3.3.1-2]", func(v byte) []byte { return publishBytes(pub, v, func(b []byte) { b[0] |= 0x08 }) }, packet.MalformedPacket},
		{"QoS 1 packet id 0 [MQTT-2.2.1-3]", func(v byte) []byte { p := pub; p.QoS = 1; return publishBytes(p, v, nil) }, packet.MalformedPacket},
		{"U+0000 in topic [MQTT-1.5.4-2]", func(v byte) []byte { p := pub; p.Topic = "a\x00b"; return publishBytes(p, v, nil) }, packet.MalformedPacket},
		{"PINGREQ with a body", func(byte) []byte { return []byte{0xC0, 0x01, 0x00} }, packet.MalformedPacket},
		{"PUBACK reserved flags [MQTT-2.1.3-1]", func(byte) []byte { return []byte{0x42, 0x02, 0x00, 0x01} }, packet.MalformedPacket},
		{"SUBSCRIBE without filters [MQTT-3.8.3-3]", func(v byte) []byte { return (&packet.Subscribe{PacketID: 1}).AppendTo(nil, v) }, packet.ProtocolError},
		{"UNSUBSCRIBE reserved flags [MQTT-3.10.1-1]", func(v byte) []byte {
			b := (&packet.Unsubscribe{PacketID: 1, Filters: []string{"a"}}).AppendTo(nil, v)
			b[0] &^= 0x02
			return b
		}, packet.MalformedPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forVersions(t, func(t *testing.T, v byte) {
				r := connectedRaw(t, startBroker(t, broker.Config{}), v)
				r.write(tc.bytes(v))
				expectRefused(r, tc.want)
			})
		})
	}
}

// A packet of the reserved type 0 (§2.1.2) ends the connection; v5 sends
// DISCONNECT 0x81 or 0x82 (the specification names neither).
func TestReservedPacketType(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r := connectedRaw(t, startBroker(t, broker.Config{}), v)
		r.write([]byte{0x00, 0x00})
		expectRefused(r, packet.MalformedPacket, packet.ProtocolError)
	})
}

// A Variable Byte Integer must use the fewest bytes: a PINGREQ whose
// Remaining Length 0 is sent as 0x80 0x00 is malformed, DISCONNECT 0x81
// [MQTT-1.5.5-1].
func TestNonMinimalRemainingLength(t *testing.T) {
	t.Parallel()
	r := connectedRaw(t, startBroker(t, broker.Config{}), packet.V5)
	r.write(fixedHeader(packet.PINGREQ, 0, 0x80, 0x00))
	r.expectDisconnect(packet.MalformedPacket)
}

// MaxPacketSize is a total size (fixed header included), as advertised in
// CONNACK's Maximum Packet Size (§3.2.2.3.6): a 100-byte packet passes, a
// 101-byte one gets DISCONNECT 0x95.
func TestMaxPacketSizeBoundary(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxPacketSize: 100})
	r := connectedRaw(t, n, packet.V5)
	p := packet.Publish{QoS: 1, PacketID: 1, Topic: "mb/t", Payload: []byte(strings.Repeat("x", 89))}
	if size := len(p.AppendTo(nil, packet.V5)); size != 100 {
		t.Fatalf("test setup: packet of %d bytes", size)
	}
	r.send(&p)
	expectAck(t, r, packet.PUBACK, 1)
	p.PacketID, p.Payload = 2, append(p.Payload, 'x')
	r.send(&p)
	r.expectDisconnect(packet.PacketTooLarge)
}

// Packets split across writes at odd offsets, one larger than the read
// buffer, and packets coalesced in one write, all frame correctly.
func TestFramingSplitAndCoalesced(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("fr/t", 1)
	r := dialRaw(t, n, packet.V311)
	big := strings.Repeat("0123456789", 10_000)
	var stream []byte
	stream = (&packet.Connect{Version: packet.V311, ClientID: "pub", CleanStart: true, KeepAlive: 30}).AppendTo(stream, 0)
	for _, payload := range []string{"first", big, "last"} {
		stream = (&packet.Publish{Topic: "fr/t", Payload: []byte(payload)}).AppendTo(stream, packet.V311)
	}
	for i, step := 0, 1; i < len(stream); i, step = i+step, step%4093+7 {
		r.write(stream[i:min(i+step, len(stream))])
	}
	for _, want := range []string{"first", big, "last"} {
		if m := expectMessage(t, sub.msgs, waitFor); m.Payload != want {
			t.Fatalf("got %d bytes %.20q, want %d bytes %.20q", len(m.Payload), m.Payload, len(want), want)
		}
	}
}

// slowAuth is an Authenticator that holds each CONNECT until `wait` of them
// are being authenticated at once (or a second has passed), as a slow
// authentication backend would.
type slowAuth struct {
	wait    int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func (a *slowAuth) Authenticate(*broker.AuthRequest) packet.ReasonCode {
	a.mu.Lock()
	if a.arrived++; a.arrived == a.wait {
		close(a.all)
	}
	a.mu.Unlock()
	select {
	case <-a.all:
	case <-time.After(time.Second):
	}
	return packet.Success
}

// MaxConnections holds while CONNECTs are concurrently being authenticated:
// of 3 clients connecting together with MaxConnections 2, one is refused.
func TestMaxConnectionsUnderConcurrentConnects(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxConnections: 2}, broker.WithHooks(&slowAuth{wait: 3, all: make(chan struct{})}))
	var clients []*rawClient
	for i := range 3 {
		r := dialRaw(t, n, packet.V5)
		r.send(&packet.Connect{Version: packet.V5, ClientID: fmt.Sprint("c", i), CleanStart: true, KeepAlive: 30})
		clients = append(clients, r)
	}
	accepted := 0
	for _, r := range clients {
		if ack := expectPacket[*packet.Connack](r); ack.ReasonCode == packet.Success {
			accepted++
		}
	}
	if accepted > 2 {
		t.Fatalf("%d connections accepted with MaxConnections 2 (Stats().ClientsConnected = %d)", accepted, n.b.Stats().ClientsConnected)
	}
}
