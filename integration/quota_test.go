package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Quotas: connection rate and count, subscriptions per client, the
// retained store, protocol versions, the minimum keep alive, SetConfig and
// the Refusals counters (and their $SYS topics). Rates of publishing are in
// quota_rate_test.go, run-time control in control_test.go.

// setConfig changes the running broker's configuration with change.
func setConfig(t *testing.T, n *node, change func(*broker.Config)) {
	t.Helper()
	cfg := n.b.Config()
	change(&cfg)
	if err := n.b.SetConfig(cfg); err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
}

// expectRefusals waits until Stats().Refusals holds exactly want for the
// codes in want.
func expectRefusals(t *testing.T, n *node, want map[packet.ReasonCode]int64) {
	t.Helper()
	eventually(t, waitFor, func() error {
		got := n.b.Stats().Refusals
		for rc, w := range want {
			if got[rc] != w {
				return fmt.Errorf("Refusals[%#02x %v] = %d, want %d (all: %v)", byte(rc), rc, got[rc], w, got)
			}
		}
		return nil
	})
}

// connackFor connects a raw client of version with clientID and keep alive
// ka and returns it with its CONNACK.
func connackFor(t *testing.T, n *node, version byte, clientID string, ka uint16) (*rawClient, *packet.Connack) {
	t.Helper()
	return connectRaw(t, n, version, packet.Connect{ClientID: clientID, CleanStart: true, KeepAlive: ka})
}

// expectConnack connects a raw client and fails unless its CONNACK carries
// want; a refused client must then be closed.
func expectConnack(t *testing.T, n *node, version byte, clientID string, want packet.ReasonCode) *rawClient {
	t.Helper()
	r, ack := connackFor(t, n, version, clientID, 30)
	if ack.ReasonCode != want {
		t.Fatalf("v%d %q: CONNACK %#02x, want %#02x", version, clientID, byte(ack.ReasonCode), byte(want))
	}
	if want != packet.Success {
		r.expectClosed()
	}
	return r
}

// payloads returns the payloads of ms.
func payloads(ms []msg) []string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Payload)
	}
	return s
}

// numbers returns "from".."to" as strings.
func numbers(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return s
}

// A fresh broker's rate buckets hold one second's worth from the start:
// with MaxConnectRate 2 the first two CONNECTs are accepted, with
// MaxMessageRate 5 the first five PUBLISHes are. So does a bucket that
// SetConfig turns on.
func TestQuotaRateBurstAtStart(t *testing.T) {
	t.Parallel()
	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		n := startBroker(t, broker.Config{MaxConnectRate: 2})
		expectConnack(t, n, packet.V5, "c1", packet.Success)
		expectConnack(t, n, packet.V311, "c2", packet.Success)
		expectConnack(t, n, packet.V5, "c3", packet.ConnectionRateExceeded)
	})
	for _, viaSetConfig := range []bool{false, true} {
		t.Run(fmt.Sprint("message/setconfig=", viaSetConfig), func(t *testing.T) {
			t.Parallel()
			cfg := broker.Config{MaxMessageRate: 5, RateWait: -1}
			if viaSetConfig {
				cfg = broker.Config{RateWait: -1}
			}
			n := startBroker(t, cfg)
			r := connectedRaw(t, n, packet.V5)
			if viaSetConfig {
				setConfig(t, n, func(c *broker.Config) { c.MaxMessageRate = 5 })
			}
			r.write(publishes(packet.V5, "bs/t", 1, 1, 6))
			for i := 1; i <= 6; i++ {
				want := packet.NoMatchingSubscribers
				if i == 6 {
					want = packet.QuotaExceeded
				}
				if a := expectAck(t, r, packet.PUBACK, uint16(i)); a.ReasonCode != want {
					t.Fatalf("PUBACK %d: %#02x, want %#02x", i, byte(a.ReasonCode), byte(want))
				}
			}
		})
	}
}

// MaxConnectRate 2: two CONNECTs pass, the next ones get CONNACK 0x9F (v5)
// or return code 3 (3.1.1), counted under 0x9F; lowering the rate with
// SetConfig keeps refusing, raising it admits the next CONNECT at once.
func TestQuotaConnectRate(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxConnectRate: 2})
	expectConnack(t, n, packet.V5, "a5", packet.Success)
	expectConnack(t, n, packet.V311, "a3", packet.Success)
	expectConnack(t, n, packet.V5, "r5", packet.ConnectionRateExceeded)
	expectConnack(t, n, packet.V311, "r3", packet.ConnRefusedServerUnavailable)
	// Lowered to one CONNECT per 100 s (burst 1): the bucket may start
	// full or not, but of three more CONNECTs at most the first passes.
	setConfig(t, n, func(c *broker.Config) { c.MaxConnectRate = 0.01 })
	refused := int64(2) // r5, r3
	if _, ack := connackFor(t, n, packet.V5, "x5", 30); ack.ReasonCode == packet.ConnectionRateExceeded {
		refused++
	} else if ack.ReasonCode != packet.Success {
		t.Fatalf("x5: CONNACK %#02x", byte(ack.ReasonCode))
	}
	if _, err := connectV311(t, n, "paho3"); err == nil {
		t.Fatal("3.1.1 paho client accepted above MaxConnectRate")
	}
	if c, err := connectV5(t, n, "paho5"); err == nil || c.connack == nil || c.connack.ReasonCode != byte(packet.ConnectionRateExceeded) {
		t.Fatalf("v5 paho client: err %v, connack %+v; want refusal 0x9F", err, c.connack)
	}
	refused += 2
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.ConnectionRateExceeded: refused})
	setConfig(t, n, func(c *broker.Config) { c.MaxConnectRate = 1e6 })
	expectConnack(t, n, packet.V5, "b5", packet.Success)
	expectConnack(t, n, packet.V311, "b3", packet.Success)
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.ConnectionRateExceeded: refused})
}

// MaxConnections 2: the third CONNECT gets 0x97 (v5) or 3 (3.1.1), counted
// under 0x97. Lowering it with SetConfig keeps the connections there are
// but refuses new ones; raising it admits them.
func TestQuotaMaxConnectionsSetConfig(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxConnections: 2})
	keep := dialV5(t, n, "keep")
	leave := dialV311(t, n, "leave")
	expectConnack(t, n, packet.V5, "r5", packet.QuotaExceeded)
	expectConnack(t, n, packet.V311, "r3", packet.ConnRefusedServerUnavailable)
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: 2})

	setConfig(t, n, func(c *broker.Config) { c.MaxConnections = 1 })
	if got := n.b.Stats().ClientsConnected; got != 2 {
		t.Fatalf("ClientsConnected %d after lowering MaxConnections, want 2 (kept)", got)
	}
	keep.subscribe("mc/t", 0)
	keep.publish("mc/t", "still here", 0, false)
	if m := expectMessage(t, keep.msgs, waitFor); m.Payload != "still here" {
		t.Fatalf("got %v", m)
	}
	leave.Disconnect(100)
	eventually(t, waitFor, func() error {
		if got := n.b.Stats().ClientsConnected; got != 1 {
			return fmt.Errorf("ClientsConnected %d, want 1", got)
		}
		return nil
	})
	expectConnack(t, n, packet.V5, "r5b", packet.QuotaExceeded)
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: 3})

	setConfig(t, n, func(c *broker.Config) { c.MaxConnections = 3 })
	expectConnack(t, n, packet.V5, "b5", packet.Success)
	expectConnack(t, n, packet.V311, "b3", packet.Success)
	expectConnack(t, n, packet.V311, "r3b", packet.ConnRefusedServerUnavailable)
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: 4})
}

// MaxSubscriptionsPerClient 2: a third filter gets SUBACK 0x97 (v5) or
// 0x80 (3.1.1) and receives nothing; re-subscribing an existing filter is
// fine. Lowering the limit with SetConfig keeps existing subscriptions
// but refuses new ones until the session is under it.
func TestQuotaSubscriptionsPerClient(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		n := startBroker(t, broker.Config{MaxSubscriptionsPerClient: 2})
		r := connectedRaw(t, n, v)
		refusedCode := packet.QuotaExceeded
		if v != packet.V5 {
			refusedCode = packet.UnspecifiedError
		}
		pid := uint16(0)
		sub := func(filters ...string) []packet.ReasonCode {
			t.Helper()
			pid++
			s := packet.Subscribe{PacketID: pid}
			for _, f := range filters {
				s.Subscriptions = append(s.Subscriptions, packet.Subscription{Filter: f, QoS: 1})
			}
			r.send(&s)
			return expectPacket[*packet.Suback](r).ReasonCodes
		}
		unsub := func(f string) {
			t.Helper()
			pid++
			r.send(&packet.Unsubscribe{PacketID: pid, Filters: []string{f}})
			expectPacket[*packet.Unsuback](r)
		}
		check := func(got []packet.ReasonCode, want ...packet.ReasonCode) {
			t.Helper()
			if !slices.Equal(got, want) {
				t.Fatalf("SUBACK %v, want %v", got, want)
			}
		}
		check(sub("sq/a", "sq/b", "sq/c"), 1, 1, refusedCode)
		// The refused filter delivers nothing: a message to sq/c, then
		// one to sq/a; the first PUBLISH the client gets is sq/a's.
		r.send(&packet.Publish{Topic: "sq/c", Payload: []byte("no")})
		r.send(&packet.Publish{Topic: "sq/a", Payload: []byte("yes")})
		if p := expectPacket[*packet.Publish](r); p.Topic != "sq/a" {
			t.Fatalf("got %s, want the sq/a message", describe(p))
		}
		check(sub("sq/a"), 1)
		unsub("sq/b")
		check(sub("sq/c"), 1)
		expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: 1})

		setConfig(t, n, func(c *broker.Config) { c.MaxSubscriptionsPerClient = 1 })
		check(sub("sq/a", "sq/c"), 1, 1) // both exist: kept
		check(sub("sq/d"), refusedCode)
		unsub("sq/a")
		check(sub("sq/d"), refusedCode) // still one (sq/c)
		unsub("sq/c")
		check(sub("sq/d"), 1)
		expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: 3})
	})
}

// The paho clients get the same SUBACK codes.
func TestQuotaSubscriptionsPerClientPaho(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxSubscriptionsPerClient: 1})
	c5, c3 := dialV5(t, n, "p5"), dialV311(t, n, "p3")
	if rc := c5.subscribe("sp/a", 1); rc != 1 {
		t.Fatalf("v5 SUBACK %#02x", rc)
	}
	if rc := c5.subscribe("sp/b", 1); rc != byte(packet.QuotaExceeded) {
		t.Fatalf("v5 SUBACK %#02x, want 0x97", rc)
	}
	if rc := c3.subscribe("sp/a", 1); rc != 1 {
		t.Fatalf("3.1.1 SUBACK %#02x", rc)
	}
	if rc := c3.subscribe("sp/b", 1); rc != 0x80 {
		t.Fatalf("3.1.1 SUBACK %#02x, want 0x80", rc)
	}
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: 2})
}

// retainedStep is one retained PUBLISH and its expected outcome.
type retainedStep struct {
	topic, payload string
	qos            byte
	refused        bool
}

// runRetained publishes steps from a raw client of version (packet ids
// 1, 2, ...), checks the acknowledgements, then checks that a subscriber
// got exactly the accepted ones in order and that the retained store
// holds want (topic=payload).
func runRetained(t *testing.T, n *node, version byte, steps []retainedStep, want []string) {
	t.Helper()
	sub := dialV5(t, n, "sub")
	sub.subscribe("rt/#", 2)
	r := connectedRaw(t, n, version)
	var delivered []string
	refused := int64(0)
	for i, s := range steps {
		pid := uint16(i + 1)
		r.send(&packet.Publish{Topic: s.topic, Payload: []byte(s.payload), QoS: s.qos, Retain: true, PacketID: pid})
		wantRC := packet.Success
		if s.refused {
			refused++
			if version == packet.V5 {
				wantRC = packet.QuotaExceeded
			}
		} else {
			delivered = append(delivered, s.topic+"="+s.payload)
		}
		switch s.qos {
		case 1, 2:
			typ := packet.PUBACK
			if s.qos == 2 {
				typ = packet.PUBREC
			}
			if a := expectAck(t, r, typ, pid); a.ReasonCode != wantRC {
				t.Fatalf("step %d (%s %q qos %d): reason %#02x, want %#02x", i, s.topic, s.payload, s.qos, byte(a.ReasonCode), byte(wantRC))
			}
			if s.qos == 2 {
				r.send(&packet.Ack{Type: packet.PUBREL, PacketID: pid})
				expectAck(t, r, packet.PUBCOMP, pid)
			}
		}
	}
	r.send(&packet.Publish{Topic: "rt/end", Payload: []byte("end")})
	// Live deliveries come with Retain 0 (no Retain As Published). Ones
	// with Retain 1 are the store's copies sent for the subscription
	// itself: the broker scans the store after queueing the SUBACK, so a
	// message published just after the SUBACK can also arrive that way.
	var got, all []string
	for _, m := range collectUntil(t, sub.msgs, "end") {
		all = append(all, fmt.Sprintf("%s=%s(retain=%t)", m.Topic, m.Payload, m.Retain))
		if !m.Retain {
			got = append(got, m.Topic+"="+m.Payload)
		}
	}
	if !slices.Equal(got, delivered) {
		t.Fatalf("delivered %q, want %q (all: %q)", got, delivered, all)
	}
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: refused})
	late := dialV5(t, n, "late")
	late.subscribe("rt/#", 0)
	late.publish("rt/end", "end", 0, false)
	var stored []string
	for _, m := range collectUntil(t, late.msgs, "end") {
		stored = append(stored, m.Topic+"="+m.Payload)
	}
	slices.Sort(stored)
	if !slices.Equal(stored, want) {
		t.Fatalf("retained %q, want %q", stored, want)
	}
}

// MaxRetainedMessages 2: a third retained topic is refused (0x97 for v5
// QoS 1/2, a plain acknowledgement for 3.1.1, dropped at QoS 0) and not
// delivered; replacing and clearing are allowed, and clearing makes room.
func TestQuotaRetainedMessages(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		n := startBroker(t, broker.Config{MaxRetainedMessages: 2})
		runRetained(t, n, v, []retainedStep{
			{topic: "rt/1", payload: "a", qos: 1},
			{topic: "rt/2", payload: "b", qos: 1},
			{topic: "rt/3", payload: "c", qos: 1, refused: true},
			{topic: "rt/4", payload: "d", qos: 2, refused: true},
			{topic: "rt/5", payload: "e", qos: 0, refused: true},
			{topic: "rt/1", payload: "aa", qos: 1}, // replace
			{topic: "rt/2", payload: "", qos: 1},   // clear
			{topic: "rt/3", payload: "c", qos: 1},
		}, []string{"rt/1=aa", "rt/3=c"})
		if got := n.b.Stats().Retained; got != 2 {
			t.Errorf("Stats().Retained %d, want 2", got)
		}
	})
}

// MaxRetainedBytes 10: a retained PUBLISH growing the store beyond 10
// payload bytes is refused; shrinking one frees room.
func TestQuotaRetainedBytes(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		n := startBroker(t, broker.Config{MaxRetainedBytes: 10})
		runRetained(t, n, v, []retainedStep{
			{topic: "rt/a", payload: "123456", qos: 1},
			{topic: "rt/b", payload: "12345", qos: 1, refused: true}, // 11
			{topic: "rt/a", payload: "12", qos: 1},                   // shrink to 2
			{topic: "rt/b", payload: "12345", qos: 1},                // 7
			{topic: "rt/b", payload: "123456789", qos: 2, refused: true},
			{topic: "rt/a", payload: "1234", qos: 1}, // 9
			{topic: "rt/c", payload: "12", qos: 0, refused: true},
			{topic: "rt/b", payload: "", qos: 1}, // 4
			{topic: "rt/c", payload: "123456", qos: 1},
		}, []string{"rt/a=1234", "rt/c=123456"})
	})
}

// ProtocolVersions restricts the accepted protocol levels: others get
// CONNACK 0x84 (v5) or return code 1 (3.x), counted under 0x84.
func TestQuotaProtocolVersions(t *testing.T) {
	t.Parallel()
	t.Run("only5", func(t *testing.T) {
		t.Parallel()
		n := startBroker(t, broker.Config{ProtocolVersions: []byte{packet.V5}})
		expectConnack(t, n, packet.V311, "v311", packet.ConnRefusedProtocolVersion)
		expectConnack(t, n, packet.V31, "v31", packet.ConnRefusedProtocolVersion)
		if _, err := connectV311(t, n, "paho3"); err == nil {
			t.Fatal("3.1.1 paho client accepted with ProtocolVersions [5]")
		}
		dialV5(t, n, "paho5")
		expectRefusals(t, n, map[packet.ReasonCode]int64{packet.UnsupportedProtocolVersion: 3})
	})
	t.Run("only4", func(t *testing.T) {
		t.Parallel()
		n := startBroker(t, broker.Config{ProtocolVersions: []byte{packet.V311}})
		expectConnack(t, n, packet.V5, "v5", packet.UnsupportedProtocolVersion)
		if c, err := connectV5(t, n, "paho5"); err == nil || c.connack == nil || c.connack.ReasonCode != byte(packet.UnsupportedProtocolVersion) {
			t.Fatalf("v5 paho client: err %v, connack %+v; want refusal 0x84", err, c.connack)
		}
		expectConnack(t, n, packet.V31, "v31", packet.ConnRefusedProtocolVersion)
		dialV311(t, n, "paho3")
		expectRefusals(t, n, map[packet.ReasonCode]int64{packet.UnsupportedProtocolVersion: 3})
	})
	t.Run("3and5", func(t *testing.T) {
		t.Parallel()
		n := startBroker(t, broker.Config{ProtocolVersions: []byte{packet.V31, packet.V5}})
		expectConnack(t, n, packet.V31, "v31", packet.Success)
		expectConnack(t, n, packet.V311, "v311", packet.ConnRefusedProtocolVersion)
		expectRefusals(t, n, map[packet.ReasonCode]int64{packet.UnsupportedProtocolVersion: 1})
	})
}

// MinKeepAlive 60: a v5 client asking for 5 s gets Server Keep Alive 60;
// one asking for 0 (none) or more than 60 keeps its own; a 3.1.1 client is
// accepted as it asked.
func TestQuotaMinKeepAlive(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MinKeepAlive: 60})
	for _, tc := range []struct {
		ka, want uint16 // want 0: no Server Keep Alive
	}{{5, 60}, {59, 60}, {60, 0}, {0, 0}, {120, 0}} {
		_, ack := connackFor(t, n, packet.V5, fmt.Sprint("ka", tc.ka), tc.ka)
		if ack.ReasonCode != packet.Success {
			t.Fatalf("keep alive %d: CONNACK %#02x", tc.ka, byte(ack.ReasonCode))
		}
		has := ack.Props.Has(packet.PropServerKeepAlive)
		if has != (tc.want != 0) || (has && ack.Props.ServerKeepAlive != tc.want) {
			t.Errorf("keep alive %d: Server Keep Alive present=%t value=%d, want %d", tc.ka, has, ack.Props.ServerKeepAlive, tc.want)
		}
	}
	c := dialV5(t, n, "paho", keepAlive(5))
	if p := c.connack.Properties; p == nil || p.ServerKeepAlive == nil || *p.ServerKeepAlive != 60 {
		t.Errorf("paho CONNACK properties %+v, want Server Keep Alive 60", p)
	}
	if _, ack := connackFor(t, n, packet.V311, "v311", 5); ack.ReasonCode != 0 {
		t.Errorf("3.1.1 keep alive 5: CONNACK %#02x, want 0", byte(ack.ReasonCode))
	}
	if got := n.b.Stats().Refusals; len(got) != 0 {
		t.Errorf("Refusals %v, want none", got)
	}
}

// The refusal counters are published as $SYS/broker/refusals/<name>.
func TestQuotaRefusalsSys(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{SysInterval: 50 * time.Millisecond, MaxSubscriptionsPerClient: 1, ProtocolVersions: []byte{packet.V5}})
	c := dialV5(t, n, "sys")
	if rc := c.subscribe("$SYS/broker/refusals/#", 0); rc != 0 {
		t.Fatalf("SUBACK %#02x", rc)
	}
	if rc := c.subscribe("other", 0); rc != byte(packet.QuotaExceeded) {
		t.Fatalf("SUBACK %#02x, want 0x97", rc)
	}
	expectConnack(t, n, packet.V311, "old", packet.ConnRefusedProtocolVersion)
	want := map[string]string{
		"$SYS/broker/refusals/quota-exceeded":               "1",
		"$SYS/broker/refusals/unsupported-protocol-version": "1",
	}
	seen := map[string]string{}
	eventually(t, waitFor, func() error {
		drainLatest(c.msgs, seen)
		for topic, v := range want {
			if seen[topic] != v {
				return fmt.Errorf("%s = %q, want %q (seen %v)", topic, seen[topic], v, seen)
			}
		}
		return nil
	})
	if len(seen) != len(want) {
		t.Errorf("$SYS refusals %v, want only %v", seen, want)
	}
}
