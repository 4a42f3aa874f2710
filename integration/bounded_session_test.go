package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Bounded sessions: what a session may hold, what a client may write, and
// what a session taken over keeps.

// Item 6: a session's topic filters are bounded in bytes
// (MaxSubscriptionBytes, 256 KiB by default): of 1,000 filters of 60,000
// bytes, the first few are granted and the rest get SUBACK 0x97 Quota
// exceeded, and the heap does not grow by the 60 MB asked for.
//
// Not parallel: it measures the process's heap.
func TestSubscriptionBytesBounded(t *testing.T) {
	n := startBroker(t, broker.Config{})
	r := connectedRaw(t, n, packet.V5)
	before := liveHeap()

	grantedBytes, refusals := subscribeLongFilters(t, r, 1000, 60000)
	if len(refusals) == 0 {
		t.Fatalf("all 1,000 filters of 60,000 bytes granted, want 0x97 beyond %d KiB", broker.DefaultMaxSubscriptionBytes>>10)
	}
	for rc, count := range refusals {
		if rc != packet.QuotaExceeded {
			t.Errorf("%d SUBACKs %#02x (%v), want only 0x97", count, byte(rc), rc)
		}
	}
	if grantedBytes == 0 || grantedBytes > broker.DefaultMaxSubscriptionBytes {
		t.Errorf("granted %d bytes of filters, want 1..%d", grantedBytes, broker.DefaultMaxSubscriptionBytes)
	}
	if grew := heapGrowth(before); grew > 32<<20 {
		t.Fatalf("heap grew by %d MiB after 1,000 SUBSCRIBEs of 60,000-byte filters, want < 32 MiB", grew>>20)
	}
}

// Item 6: for MQTT 3.1.1 the refusal is 0x80, its only failure code.
func TestSubscriptionBytesBoundedV311(t *testing.T) {
	t.Parallel()
	r := connectedRaw(t, startBroker(t, broker.Config{}), packet.V311)
	grantedBytes, refusals := subscribeLongFilters(t, r, 10, 60000)
	if refusals[packet.UnspecifiedError] == 0 || len(refusals) != 1 {
		t.Fatalf("SUBACK refusals %v for 10 filters of 60,000 bytes, want only 0x80", refusals)
	}
	if grantedBytes == 0 || grantedBytes > broker.DefaultMaxSubscriptionBytes {
		t.Errorf("granted %d bytes of filters, want 1..%d", grantedBytes, broker.DefaultMaxSubscriptionBytes)
	}
}

// Item 12: $SYS topics are the broker's: a client's PUBLISH to one gets
// PUBACK 0x87 Not authorized, reaches no "$SYS/#" subscriber and is not
// retained. (startBroker turns $SYS statistics off, so no other $SYS
// message exists.)
func TestSysTopicsReadOnlyForClients(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("$SYS/#", 1)
	watcher.subscribe("s/#", 1)
	forger := dialV5(t, n, "forger")

	if rc := forger.publish("$SYS/broker/version", "forged", 1, true); rc != byte(packet.NotAuthorized) {
		t.Fatalf("PUBACK %#02x for a PUBLISH to $SYS/broker/version, want 0x87", rc)
	}
	forger.publish("s/end", "end", 1, true) // retained: the late subscriber's sentinel too
	expectNoMessage(t, watcher.msgs, "end")

	late := dialV5(t, n, "late")
	late.subscribe("$SYS/broker/version", 1)
	late.subscribe("s/end", 1)
	expectNoMessage(t, late.msgs, "end")
}

// Item 12: a Will Message to a $SYS topic is refused at CONNECT: CONNACK
// 0x87 (v5) or return code 5 Not authorized (3.1.1).
func TestSysWillTopicRefused(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		r, ack := connectRaw(t, startBroker(t, broker.Config{}), v, packet.Connect{ClientID: "w", CleanStart: true, KeepAlive: 30,
			WillFlag: true, WillTopic: "$SYS/x", WillPayload: []byte("bye")})
		want := packet.NotAuthorized
		if v != packet.V5 {
			want = packet.ConnRefusedNotAuthorized
		}
		if ack.ReasonCode != want {
			t.Fatalf("CONNACK %#02x for a Will to $SYS/x, want %#02x", byte(ack.ReasonCode), byte(want))
		}
		r.expectClosed()
	})
}

// Item 13: a clean session (3.1.1 Clean Session 1; v5 Clean Start 1 with
// Session Expiry 0) ends with its connection, also when a connection with
// the same client identifier takes it over: the new connection, asking
// to resume, gets Session present 0 and none of the old subscriptions.
func TestCleanSessionTakenOverIsNotResumed(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		n := startBroker(t, broker.Config{})
		a, _ := connectRaw(t, n, v, packet.Connect{ClientID: "c13", CleanStart: true, KeepAlive: 30})
		subscribeRaw(t, a, 1, 0, packet.Subscription{Filter: "x/#", QoS: 1})

		b, ack := connectRaw(t, n, v, packet.Connect{ClientID: "c13", KeepAlive: 30, Props: withSessionExpiry(60)})
		if ack.ReasonCode != packet.Success || ack.SessionPresent {
			t.Fatalf("CONNACK %#02x session present %t after taking over a clean session, want 0x00 and false",
				byte(ack.ReasonCode), ack.SessionPresent)
		}
		if err := n.b.Publish("x/1", []byte("not subscribed"), broker.PublishOptions{QoS: 1}); err != nil {
			t.Fatal(err)
		}
		subscribeRaw(t, b, 1, 0, packet.Subscription{Filter: "end/#", QoS: 1})
		if err := n.b.Publish("end/1", []byte("end"), broker.PublishOptions{QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if p := expectPacket[*packet.Publish](b); p.Topic != "end/1" {
			t.Fatalf("got %s, want only the end/1 sentinel", describe(p))
		}
	})
}

// Item 13: the same when the clean session's DISCONNECT and the new
// CONNECT race: 50 rounds of a 3.1.1 clean session that subscribes and
// disconnects while a connection with its client identifier and Clean
// Session 0 connects at once.
func TestCleanSessionDisconnectRaceIsNotResumed(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	for round := range 50 {
		id := fmt.Sprint("c13-", round)
		a, _ := connectRaw(t, n, packet.V311, packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
		subscribeRaw(t, a, 1, 0, packet.Subscription{Filter: "x/#", QoS: 1})
		a.send(&packet.Disconnect{})

		b, ack := connectRaw(t, n, packet.V311, packet.Connect{ClientID: id, KeepAlive: 30})
		if ack.ReasonCode != packet.Success || ack.SessionPresent {
			t.Fatalf("round %d: CONNACK %#02x session present %t, want 0x00 and false", round, byte(ack.ReasonCode), ack.SessionPresent)
		}
		b.send(&packet.Disconnect{})
		_ = a.conn.Close()
		_ = b.conn.Close()
	}
}

// ---------------------------------------------------------------- helpers

// withSessionExpiry returns CONNECT properties with Session Expiry Interval
// seconds (ignored by 3.1.1).
func withSessionExpiry(seconds uint32) packet.Properties {
	return packet.Properties{Present: 1 << packet.PropSessionExpiry, SessionExpiry: seconds}
}

// subscribeLongFilters subscribes r, one SUBSCRIBE each, to count distinct
// filters of size bytes at QoS 1. It returns the bytes of the filters
// granted and the count of each refusal code.
func subscribeLongFilters(t *testing.T, r *rawClient, count, size int) (grantedBytes int, refusals map[packet.ReasonCode]int) {
	t.Helper()
	refusals = make(map[packet.ReasonCode]int)
	for i := range count {
		f := fmt.Sprintf("f/%d/", i)
		f += strings.Repeat("x", size-len(f))
		r.send(&packet.Subscribe{PacketID: uint16(i%65535 + 1), Subscriptions: []packet.Subscription{{Filter: f, QoS: 1}}})
		rc := expectPacket[*packet.Suback](r).ReasonCodes[0]
		if rc.IsError() {
			refusals[rc]++
		} else {
			grantedBytes += len(f)
		}
	}
	return grantedBytes, refusals
}
