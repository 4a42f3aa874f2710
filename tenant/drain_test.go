package tenant

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
)

// connectV5 connects an MQTT 5 client to addr; disconnects receives the
// server's DISCONNECT.
func connectV5(t *testing.T, addr, id string) (*paho.Client, *paho.Connack, chan *paho.Disconnect, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	disconnects := make(chan *paho.Disconnect, 1)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnServerDisconnect: func(d *paho.Disconnect) { disconnects <- d }})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	if err != nil {
		_ = conn.Close()
	} else {
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	}
	return c, ack, disconnects, err
}

// Host.Drain drains every running tenant, with the reference chosen per
// tenant, and the tenants started afterwards.
func TestHostDrain(t *testing.T) {
	t.Parallel()
	h, _ := testHost(t, HostConfig{})
	for _, name := range []string{"a", "b"} {
		if _, err := h.Apply(mqttOnly(name, PortAuto)); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(name string) string {
		st, _ := h.Get(name)
		return st.Listeners[ListenerMQTT]
	}
	_, _, discA, err := connectV5(t, addr("a"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	_, _, discB, err := connectV5(t, addr("b"), "cb")
	if err != nil {
		t.Fatal(err)
	}
	if h.Draining() {
		t.Fatal("Draining before Drain")
	}
	ref := func(tenantName string, ci *broker.ClientInfo) string {
		return tenantName + "-" + ci.ClientID + ".example:1883"
	}
	if got := h.Drain(ref); got != 2 {
		t.Fatalf("Drain ended %d clients, want 2", got)
	}
	if !h.Draining() {
		t.Fatal("not Draining after Drain")
	}
	for want, ch := range map[string]chan *paho.Disconnect{"a-ca.example:1883": discA, "b-cb.example:1883": discB} {
		select {
		case d := <-ch:
			if d.ReasonCode != 0x9C || d.Properties == nil || d.Properties.ServerReference != want {
				t.Errorf("DISCONNECT %#02x %+v, want 0x9C to %s", d.ReasonCode, d.Properties, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no DISCONNECT (want one to %s)", want)
		}
	}
	// A tenant started after the drain is drained too.
	if _, err := h.Apply(mqttOnly("c", PortAuto)); err != nil {
		t.Fatal(err)
	}
	_, ack, _, err := connectV5(t, addr("c"), "cc")
	if err == nil || ack == nil || ack.ReasonCode != 0x9C || ack.Properties == nil || ack.Properties.ServerReference != "c-cc.example:1883" {
		t.Fatalf("CONNECT to a tenant started after Drain: %v, %+v; want 0x9C to c-cc.example:1883", err, ack)
	}
}
