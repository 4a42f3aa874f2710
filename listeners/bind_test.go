package listeners

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// occupy binds n consecutive free ports on 127.0.0.1 and returns the first;
// cleanup releases them.
func occupy(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		held := []net.Listener{first}
		for i := 1; i < n && port+i <= maxPort; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+i))
			if err != nil {
				break
			}
			held = append(held, ln)
		}
		if len(held) == n {
			t.Cleanup(func() {
				for _, ln := range held {
					_ = ln.Close()
				}
			})
			return port
		}
		for _, ln := range held {
			_ = ln.Close()
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}

func TestNewTCPMovesOffBusyPort(t *testing.T) {
	t.Parallel()
	busy := occupy(t, 1)
	core, logs := observer.New(zapcore.WarnLevel)
	addr := "127.0.0.1:" + strconv.Itoa(busy)
	l, err := NewTCP(Config{Name: "mqtt", Addr: addr, PortSearch: 20}, zap.New(core))
	if err != nil {
		t.Fatalf("NewTCP on busy %s: %v", addr, err)
	}
	defer l.Close()
	got := l.Addr().(*net.TCPAddr).Port
	if got <= busy || got > busy+20 {
		t.Errorf("bound port %d, want one of the 20 after %d", got, busy)
	}
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("logged %d warnings, want 1: %v", len(entries), entries)
	}
	fields := entries[0].ContextMap()
	if fields["configured"] != addr || fields["bound"] != l.Addr().String() || fields["listener"] != "mqtt" {
		t.Errorf("warning fields = %v, want configured %s, bound %s, listener mqtt", fields, addr, l.Addr())
	}
	if entries[0].LoggerName != "listeners" {
		t.Errorf("logger name = %q, want listeners", entries[0].LoggerName)
	}
}

func TestNewTCPFixedPortFailsWhenBusy(t *testing.T) {
	t.Parallel()
	busy := occupy(t, 1)
	core, logs := observer.New(zapcore.DebugLevel)
	addr := "127.0.0.1:" + strconv.Itoa(busy)
	l, err := NewTCP(Config{Name: "mqtt", Addr: addr, FixedPort: true}, zap.New(core))
	if err == nil {
		_ = l.Close()
		t.Fatal("FixedPort listener bound another port")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "listeners: mqtt: bind "+addr) {
		t.Errorf("err = %v, want EADDRINUSE naming the listener and %s", err, addr)
	}
	if logs.Len() != 0 {
		t.Errorf("logged %v", logs.All())
	}
}

func TestNewTCPPortSearchIsBounded(t *testing.T) {
	t.Parallel()
	busy := occupy(t, 3)
	addr := "127.0.0.1:" + strconv.Itoa(busy)
	l, err := NewTCP(Config{Name: "mqtt", Addr: addr, PortSearch: 2}, nil)
	if err == nil {
		_ = l.Close()
		t.Fatalf("bound %v beyond the 2 ports searched", l.Addr())
	}
	want := fmt.Sprintf("listeners: mqtt: bind %s: ", addr)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), "(tried 2 ports after it)") {
		t.Errorf("err = %q, want %q... (tried 2 ports after it)", err, want)
	}
}

func TestNewTCPPortSearchStopsAt65535(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:65535")
	if err != nil {
		t.Skipf("cannot occupy port 65535: %v", err)
	}
	defer ln.Close()
	l, err := NewTCP(Config{Addr: "127.0.0.1:65535"}, nil)
	if err == nil {
		_ = l.Close()
		t.Fatalf("bound %v past the last port", l.Addr())
	}
	if !strings.HasSuffix(err.Error(), "(tried 0 ports after it)") {
		t.Errorf("err = %q, want no port searched", err)
	}
}

func TestBindPortZero(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	ln, err := bind(Config{Name: "z", Addr: "127.0.0.1:0"}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().(*net.TCPAddr).Port == 0 || logs.Len() != 0 {
		t.Errorf("bound %v, logged %v", ln.Addr(), logs.All())
	}
}
