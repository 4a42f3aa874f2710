package tenant

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// A second tenant on a port the first configures is refused before it is
// written; the Host's specs are the others.
func TestCheckPortsRefusesSecondTenantOnSamePort(t *testing.T) {
	base := freeBlock(t, 1)
	h, _ := testHost(t, HostConfig{})
	if _, err := h.Apply(mqttOnly("first", port(base))); err != nil {
		t.Fatal(err)
	}
	var others []Spec
	for _, st := range h.List() {
		others = append(others, st.Spec)
	}
	err := HostConfig{}.CheckPorts(mqttOnly("second", port(base)), others, nil)
	if !errors.Is(err, ErrPortTaken) {
		t.Fatalf("CheckPorts = %v, want ErrPortTaken", err)
	}
}

// A fixed port held by another process moves its listener to the next
// free port, skipping the one another tenant configures, even when that
// tenant starts later in the same Reconcile.
func TestHostMovedListenerSkipsOtherTenantsPort(t *testing.T) {
	base := freeBlock(t, 3)
	occupy(t, base)
	h, _ := testHost(t, HostConfig{})
	err := h.Reconcile([]Spec{mqttOnly("busy", port(base)), mqttOnly("next", port(base+1))})
	if err != nil {
		t.Fatal(err)
	}
	if got := boundPort(t, h, "busy", "mqtt"); got != base+2 {
		t.Errorf("busy's listener moved to %d, want %d (past next's %d)", got, base+2, base+1)
	}
	if got := boundPort(t, h, "next", "mqtt"); got != base+1 {
		t.Errorf("next bound %d, want its configured %d", got, base+1)
	}
}

// An auto listener's port hint (its port before a restart) is not taken
// when another tenant now configures that port.
func TestHostAutoHintSkipsOtherTenantsPort(t *testing.T) {
	base := freeBlock(t, 2)
	hints := func(tenant string, listener ListenerKind) int {
		if tenant == "auto" && listener == "mqtt" {
			return base
		}
		return 0
	}
	h, _ := testHost(t, HostConfig{PortMin: base, PortMax: base + 1}, WithPortHints(hints))
	if err := h.Reconcile([]Spec{mqttOnly("auto", PortAuto), mqttOnly("fixed", port(base))}); err != nil {
		t.Fatal(err)
	}
	if got := boundPort(t, h, "auto", "mqtt"); got != base+1 {
		t.Errorf("auto bound %d, want %d", got, base+1)
	}
	if got := boundPort(t, h, "fixed", "mqtt"); got != base {
		t.Errorf("fixed bound %d, want %d", got, base)
	}
}

// Two tenants configuring one port (written before CheckPorts): after a
// restart the one that held it keeps it, whatever the names' order.
func TestHostSharedPortKeptByItsHolder(t *testing.T) {
	base := freeBlock(t, 2)
	hints := func(tenant string, listener ListenerKind) int {
		if tenant == "zeta" && listener == "mqtt" {
			return base
		}
		return 0
	}
	h, logs := testHost(t, HostConfig{}, WithPortHints(hints))
	specs := []Spec{mqttOnly("abc", port(base)), mqttOnly("zeta", port(base))}
	for range 2 {
		if err := h.Reconcile(specs); err != nil {
			t.Fatal(err)
		}
	}
	if got := boundPort(t, h, "zeta", "mqtt"); got != base {
		t.Errorf("zeta bound %d, want %d", got, base)
	}
	if got := boundPort(t, h, "abc", "mqtt"); got != base+1 {
		t.Errorf("abc bound %d, want %d", got, base+1)
	}
	if n := logs.FilterMessageSnippet("configured by several tenants").Len(); n != 1 {
		t.Errorf("%d warnings of the shared port, want 1", n)
	}
}

// A tenant configuring a port another tenant's auto listener holds gets
// it: the auto listener moves, and its v5 clients are told where.
func TestHostReclaimsConfiguredPort(t *testing.T) {
	base := freeBlock(t, 2)
	h, _ := testHost(t, HostConfig{PortMin: base, PortMax: base + 1})
	if _, err := h.Apply(mqttOnly("auto", PortAuto)); err != nil {
		t.Fatal(err)
	}
	if got := boundPort(t, h, "auto", "mqtt"); got != base {
		t.Fatalf("auto bound %d, want the range's first port %d", got, base)
	}
	c := dialV5(t, base)
	got := make(chan packet.Packet, 1)
	go func() {
		p, _ := packet.ReadPacket(c, packet.V5, 0)
		c.Close() // as a client that moves does: the listener need not wait
		got <- p
	}()
	if _, err := h.Apply(mqttOnly("owner", port(base))); err != nil {
		t.Fatal(err)
	}
	if got := boundPort(t, h, "owner", "mqtt"); got != base {
		t.Errorf("owner bound %d, want %d", got, base)
	}
	moved := boundPort(t, h, "auto", "mqtt")
	if moved != base+1 {
		t.Errorf("auto moved to %d, want %d", moved, base+1)
	}
	p := <-got
	d, ok := p.(*packet.Disconnect)
	if !ok || d.ReasonCode != packet.UseAnotherServer || d.Props.ServerReference != net.JoinHostPort("127.0.0.1", strconv.Itoa(moved)) {
		t.Fatalf("got %#v, want DISCONNECT 0x9C to port %d", p, moved)
	}
}

// dialV5 connects an anonymous v5 client to port and reads its CONNACK.
func dialV5(t *testing.T, port int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	connect := &packet.Connect{Version: packet.V5, ClientID: "c", CleanStart: true, KeepAlive: 30}
	if _, err := c.Write(connect.AppendTo(nil, packet.V5)); err != nil {
		t.Fatal(err)
	}
	p, err := packet.ReadPacket(c, packet.V5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK: %#v", p)
	}
	return c
}
