package tenant

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// Remove closes every listener the tenant opened, and Close those of every
// tenant left: afterwards their ports accept no connection and can be
// bound again, on all four kinds (the WebSocket ones run an HTTP server).
func TestHostClosesEveryListener(t *testing.T) {
	h, _ := testHost(t, HostConfig{TLS: tlsMaterial(t)})
	all := func(name string) Spec {
		return Spec{Name: name, Auth: Auth{AllowAnonymous: true},
			Listeners: Listeners{MQTT: PortAuto, MQTTS: PortAuto, WS: PortAuto, WSS: PortAuto}}
	}
	ports := map[string][]int{}
	for _, name := range []string{"removed", "closed"} {
		st, err := h.Apply(all(name))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range listenerKinds {
			p := boundPort(t, h, name, k)
			if p == 0 {
				t.Fatalf("%s: no %s listener: %v", name, k, st.Listeners)
			}
			accepts(t, p, true)
			ports[name] = append(ports[name], p)
		}
	}
	if err := h.Remove("removed"); err != nil {
		t.Fatal(err)
	}
	for _, p := range ports["removed"] {
		accepts(t, p, false)
	}
	for _, p := range ports["closed"] {
		accepts(t, p, true)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range ports["closed"] {
		accepts(t, p, false)
	}
}

// accepts checks whether a TCP connection to port on 127.0.0.1 is
// accepted; when it must not be, the port must also be free to bind.
func accepts(t *testing.T, port int, want bool) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
	}
	if got := err == nil; got != want {
		t.Fatalf("port %d accepts connections: %t, want %t (%v)", port, got, want, err)
	}
	if !want {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %d not free after its listener closed: %v", port, err)
		}
		l.Close()
	}
}
