package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Publish rates: per client (DISCONNECT 0x96) and for the whole broker
// (publishers slowed down, then refused with 0x97 beyond RateWait).

// clientRateCase publishes a burst from a raw client of version on a broker
// with cfg; the first `pass` messages are delivered, then the client gets
// DISCONNECT 0x96 (v5) or is closed (3.1.1), counted under 0x96.
func clientRateCase(t *testing.T, version byte, cfg broker.Config, burst []byte, pass []string) {
	n := startBroker(t, cfg)
	sub := dialV5(t, n, "sub")
	sub.subscribe("cr/#", 0)
	r := connectedRaw(t, n, version)
	r.write(burst)
	expectRefused(r, packet.MessageRateTooHigh)
	sub.publish("cr/end", "end", 0, false)
	if got := payloads(collectUntil(t, sub.msgs, "end")); !slices.Equal(got, pass) {
		t.Fatalf("delivered %q, want %q", got, pass)
	}
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.MessageRateTooHigh: 1})
}

// MaxClientMessageRate 5: of 20 PUBLISHes sent at once, 5 are delivered,
// then the client is disconnected with 0x96 (v5) or closed (3.1.1).
func TestQuotaClientMessageRate(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		clientRateCase(t, v, broker.Config{MaxClientMessageRate: 5}, publishes(v, "cr/t", 0, 1, 20), numbers(1, 5))
	})
}

// MaxClientByteRate 100: of 40-byte payloads sent at once, two fit, the
// third ends the connection.
func TestQuotaClientByteRate(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		var burst []byte
		var want []string
		for i := range 5 {
			p := fmt.Sprintf("%d%s", i, strings.Repeat("x", 39))
			burst = (&packet.Publish{Topic: "cr/t", Payload: []byte(p)}).AppendTo(burst, v)
			if i < 2 {
				want = append(want, p)
			}
		}
		clientRateCase(t, v, broker.Config{MaxClientByteRate: 100}, burst, want)
	})
}

// The paho clients see the same: v5 gets DISCONNECT 0x96, 3.1.1 loses the
// connection.
func TestQuotaClientMessageRatePaho(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxClientMessageRate: 5})
	c5 := dialV5(t, n, "p5")
	ctx := t.Context()
	for i := range 20 {
		if _, err := c5.Publish(ctx, &paho.Publish{Topic: "pr/t", Payload: []byte(fmt.Sprint(i))}); err != nil {
			break
		}
	}
	if d := c5.expectServerDisconnect(); d.ReasonCode != byte(packet.MessageRateTooHigh) {
		t.Fatalf("v5 DISCONNECT %#02x, want 0x96", d.ReasonCode)
	}
	lost := make(chan error, 1)
	c3 := dialV311(t, n, "p3", func(o *mqttOptions) {
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	})
	for i := range 20 {
		c3.Publish("pr/t", 0, false, fmt.Sprint(i))
	}
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal("3.1.1 client still connected after publishing above MaxClientMessageRate")
	}
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.MessageRateTooHigh: 2})
}

// brokerRateCase sends a burst of PUBLISHes of qos from a raw client of
// version to a broker with a broker-wide rate; the first `pass` are
// delivered and acknowledged normally, the rest are refused: v5 QoS 1/2
// with PUBACK/PUBREC 0x97, 3.1.1 QoS 1/2 with a plain acknowledgement,
// QoS 0 silently; each refusal counts under 0x97. Raising the rate with
// SetConfig lets the next PUBLISH through.
func brokerRateCase(t *testing.T, version, qos byte, cfg broker.Config, burst []packet.Publish, pass int) {
	cfg.RateWait = -1 // refuse at once; TestQuotaBrokerRateThrottles covers waiting
	n := startBroker(t, cfg)
	sub := dialV5(t, n, "sub")
	sub.subscribe("mr/#", 2)
	r := connectedRaw(t, n, version)
	var b []byte
	for _, p := range burst {
		b = p.AppendTo(b, version)
	}
	r.write(b)
	if qos > 0 {
		typ := packet.PUBACK
		if qos == 2 {
			typ = packet.PUBREC
		}
		for i, p := range burst {
			want := packet.Success
			if i >= pass && version == packet.V5 {
				want = packet.QuotaExceeded
			}
			if a := expectAck(t, r, typ, p.PacketID); a.ReasonCode != want {
				t.Fatalf("ack %d: reason %#02x, want %#02x", p.PacketID, byte(a.ReasonCode), byte(want))
			}
		}
	}
	refused := int64(len(burst) - pass)
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: refused})
	setConfig(t, n, func(c *broker.Config) { c.MaxMessageRate, c.MaxByteRate = 0, 0 })
	r.send(&packet.Publish{Topic: "mr/end", Payload: []byte("end")})
	var want []string
	for _, p := range burst[:pass] {
		want = append(want, string(p.Payload))
	}
	if got := payloads(collectUntil(t, sub.msgs, "end")); !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if st := n.b.Stats(); st.MessagesDropped < refused {
		t.Errorf("MessagesDropped %d, want at least %d", st.MessagesDropped, refused)
	}
}

// MaxMessageRate 5: of 8 PUBLISHes sent at once, 5 are delivered.
func TestQuotaBrokerMessageRate(t *testing.T) {
	t.Parallel()
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprint("qos", qos), func(t *testing.T) {
			t.Parallel()
			forVersions(t, func(t *testing.T, v byte) {
				var burst []packet.Publish
				for i := 1; i <= 8; i++ {
					p := packet.Publish{Topic: "mr/t", QoS: qos, Payload: []byte(fmt.Sprint(i))}
					if qos > 0 {
						p.PacketID = uint16(i)
					}
					burst = append(burst, p)
				}
				brokerRateCase(t, v, qos, broker.Config{MaxMessageRate: 5}, burst, 5)
			})
		})
	}
}

// MaxByteRate 100: of four 40-byte QoS 1 payloads, two are delivered.
func TestQuotaBrokerByteRate(t *testing.T) {
	t.Parallel()
	forVersions(t, func(t *testing.T, v byte) {
		var burst []packet.Publish
		for i := 1; i <= 4; i++ {
			burst = append(burst, packet.Publish{Topic: "mr/t", QoS: 1, PacketID: uint16(i),
				Payload: []byte(fmt.Sprintf("%d%s", i, strings.Repeat("x", 39)))})
		}
		brokerRateCase(t, v, 1, broker.Config{MaxByteRate: 100}, burst, 2)
	})
}

// Over a broker-wide rate, a publisher is slowed down rather than refused:
// its packets are read at the rate. With MaxMessageRate 50, 70 QoS 1
// PUBLISHes sent at once all pass, 20 of them after a wait.
func TestQuotaBrokerRateThrottles(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxMessageRate: 50, RateWait: 100 * time.Millisecond})
	sub := dialV5(t, n, "sub")
	sub.subscribe("th/#", 1)
	r := connectedRaw(t, n, packet.V5)
	r.write(publishes(packet.V5, "th/t", 1, 1, 70))
	for i := 1; i <= 70; i++ {
		if a := expectAck(t, r, packet.PUBACK, uint16(i)); a.ReasonCode != packet.Success {
			t.Fatalf("PUBACK %d: %v, want success (slowed down, not refused)", i, a.ReasonCode)
		}
	}
	if st := n.b.Stats(); st.PublishersThrottled < 15 {
		t.Fatalf("PublishersThrottled %d, want about 20", st.PublishersThrottled)
	}
	r.send(&packet.Publish{Topic: "th/end", Payload: []byte("end")})
	if got := len(collectUntil(t, sub.msgs, "end")); got != 70 {
		t.Fatalf("delivered %d, want 70", got)
	}
}

// Several publishers at once share the rate; a PUBLISH that would wait
// more than RateWait behind the others is refused with 0x97, and exactly
// the accepted ones are delivered.
func TestQuotaBrokerRateRefusesBeyondRateWait(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxMessageRate: 20, RateWait: 100 * time.Millisecond})
	sub := dialV5(t, n, "sub")
	sub.subscribe("tw/#", 1)
	const clients, each = 4, 30
	rs := make([]*rawClient, clients)
	for i := range rs {
		r, ack := connectRaw(t, n, packet.V5, packet.Connect{ClientID: fmt.Sprint("tw-", i), CleanStart: true, KeepAlive: 30})
		if ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %v", ack.ReasonCode)
		}
		rs[i] = r
	}
	for _, r := range rs {
		r.write(publishes(packet.V5, "tw/t", 1, 1, each))
	}
	passed, refused := 0, 0
	for _, r := range rs {
		for i := 1; i <= each; i++ {
			switch a := expectAck(t, r, packet.PUBACK, uint16(i)); a.ReasonCode {
			case packet.Success:
				passed++
			case packet.QuotaExceeded:
				refused++
			default:
				t.Fatalf("PUBACK %d: %v", i, a.ReasonCode)
			}
		}
	}
	if refused == 0 || passed < 20 {
		t.Fatalf("passed %d, refused %d; want the burst of 20 and more passed, and some refused", passed, refused)
	}
	expectRefusals(t, n, map[packet.ReasonCode]int64{packet.QuotaExceeded: int64(refused)})
	rs[0].send(&packet.Publish{Topic: "tw/end", Payload: []byte("end")})
	if got := len(collectUntil(t, sub.msgs, "end")); got != passed {
		t.Fatalf("delivered %d, want %d", got, passed)
	}
}
