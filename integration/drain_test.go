package integration

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Broker.Drain: a connected v5 client gets DISCONNECT 0x9C with the Server
// Reference ref gives it, a 3.1.1 client is closed, their persistent
// sessions stay, and every new CONNECT is refused (v5: CONNACK 0x9C with
// the reference; 3.1.1: CONNACK 3, server unavailable).
func TestBrokerDrain(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	v5 := dialV5(t, n, "drain-5", cleanStart(false), sessionExpiry(600))
	lost := make(chan error, 1)
	v3 := dialV311(t, n, "drain-3", func(o *mqttOptions) {
		o.SetCleanSession(false)
		o.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	})
	for _, id := range []string{"drain-5", "drain-3"} {
		eventually(t, waitFor, func() error { return rec.has("connect " + id) })
	}
	if n.b.Draining() {
		t.Fatal("Draining before Drain")
	}
	var mu sync.Mutex
	asked := map[string]bool{}
	ref := func(ci *broker.ClientInfo) string {
		mu.Lock()
		asked[ci.ClientID] = true
		mu.Unlock()
		return "other-" + ci.ClientID + ".example:1883"
	}
	if got := n.b.Drain(ref); got != 2 {
		t.Fatalf("Drain ended %d clients, want 2", got)
	}
	if !n.b.Draining() {
		t.Fatal("not Draining after Drain")
	}
	d := v5.expectServerDisconnect()
	if d.ReasonCode != byte(packet.UseAnotherServer) || d.Properties == nil || d.Properties.ServerReference != "other-drain-5.example:1883" {
		t.Fatalf("DISCONNECT %#02x with %+v, want 0x9C with Server Reference other-drain-5.example:1883", d.ReasonCode, d.Properties)
	}
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal("the 3.1.1 client was not closed")
	}
	if v3.IsConnectionOpen() {
		t.Error("the 3.1.1 client is still connected")
	}
	mu.Lock()
	if asked["drain-3"] {
		t.Error("ref was asked for a 3.1.1 client, which has no Server Reference")
	}
	mu.Unlock()
	for _, id := range []string{"drain-5", "drain-3"} {
		eventually(t, waitFor, func() error {
			if err := rec.lostCause(id); !errors.Is(err, broker.ErrDisconnectedByServer) {
				return fmt.Errorf("%s: OnConnectionLost cause %v, want ErrDisconnectedByServer", id, err)
			}
			return nil
		})
	}
	eventually(t, waitFor, func() error {
		if st := n.b.Stats(); st.ClientsConnected != 0 || st.Sessions != 2 {
			return fmt.Errorf("%d connected, %d sessions; want 0 and the 2 persistent sessions", st.ClientsConnected, st.Sessions)
		}
		return nil
	})

	// New connections are refused.
	c, err := connectV5(t, n, "late-5")
	if err == nil || c.connack == nil || c.connack.ReasonCode != byte(packet.UseAnotherServer) ||
		c.connack.Properties == nil || c.connack.Properties.ServerReference != "other-late-5.example:1883" {
		t.Fatalf("v5 CONNECT while drained: %v, CONNACK %+v; want 0x9C with Server Reference other-late-5.example:1883", err, c.connack)
	}
	r, ack := connackFor(t, n, packet.V5, "late-raw", 30)
	if ack.ReasonCode != packet.UseAnotherServer || ack.Props.ServerReference != "other-late-raw.example:1883" {
		t.Fatalf("raw v5 CONNACK %s, want 0x9C with the reference", describe(ack))
	}
	r.expectClosed()
	expectConnack(t, n, packet.V311, "late-3", packet.ConnRefusedServerUnavailable)
	if _, err := connectV311(t, n, "late-3b"); err == nil {
		t.Fatal("a 3.1.1 client connected to a drained broker")
	}
	if got := n.b.Stats().Refusals[packet.UseAnotherServer]; got < 2 {
		t.Errorf("refusals 0x9C = %d, want at least 2", got)
	}
	// Draining again ends nobody, and a nil ref sends no reference.
	if got := n.b.Drain(nil); got != 0 {
		t.Errorf("Drain again ended %d", got)
	}
	r, ack = connackFor(t, n, packet.V5, "late-noref", 30)
	if ack.ReasonCode != packet.UseAnotherServer || ack.Props.Has(packet.PropServerReference) {
		t.Fatalf("CONNACK %s, want 0x9C without a Server Reference", describe(ack))
	}
	r.expectClosed()
}
