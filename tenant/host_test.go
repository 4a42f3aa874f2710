package tenant

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testHost returns a Host on 127.0.0.1 whose log is recorded, closed by
// t.Cleanup.
func testHost(t *testing.T, cfg HostConfig, opts ...Option) (*Host, *observer.ObservedLogs) {
	t.Helper()
	cfg.BindHost, cfg.AdvertiseHost = "127.0.0.1", "127.0.0.1"
	cfg.Broker.SysInterval = -1
	core, logs := observer.New(zapcore.InfoLevel)
	h, err := NewHost(cfg, append([]Option{WithLogger(zap.New(core))}, opts...)...)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, logs
}

// freeBlock returns the first of n consecutive ports free on 127.0.0.1.
func freeBlock(t *testing.T, n int) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if base+n-1 > 65535 {
			continue
		}
		free := true
		for p := base; p < base+n && free; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// occupy holds port on 127.0.0.1, as another process would, until the
// test ends.
func occupy(t *testing.T, port int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

// mqttOnly is an anonymous tenant whose only listener is MQTT on port.
func mqttOnly(name string, port Port) Spec {
	return Spec{Name: name, Listeners: Listeners{MQTT: port, WS: PortOff}, Auth: Auth{AllowAnonymous: true}}
}

// boundPort returns the port tenant name's listener is bound to, 0 if none.
func boundPort(t *testing.T, h *Host, name string, listener ListenerKind) int {
	t.Helper()
	st, ok := h.Get(name)
	if !ok {
		t.Fatalf("tenant %s unknown", name)
	}
	addr := st.Listeners[listener]
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// port formats n as a fixed Port.
func port(n int) Port { return Port(strconv.Itoa(n)) }
