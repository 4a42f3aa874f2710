package integration

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/broker/packet"
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

// expectRefused expects the 3.1.1 close or the v5 DISCONNECT with rc.
func expectRefused(r *rawClient, rc packet.ReasonCode) {
	r.t.Helper()
	if r.version == packet.V5 {
		r.expectDisconnect(rc)
		return
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
