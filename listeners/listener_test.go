package listeners

import (
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait on a condition in these tests.
const waitTimeout = 10 * time.Second

func newTestTCP(t *testing.T) *Listener {
	t.Helper()
	l, err := NewTCP(Config{Name: "test", Addr: "127.0.0.1:0"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewTCP: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// serveInBackground runs l.Serve(handle) and returns a channel that receives
// its result.
func serveInBackground(l *Listener, handle func(net.Conn)) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Serve(func(c net.Conn) error { handle(c); return nil }) }()
	return done
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestNewTCPReportsBoundPort(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("Addr() = %T, want *net.TCPAddr", l.Addr())
	}
	if addr.Port == 0 || !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("Addr() = %v, want 127.0.0.1 with a real port", addr)
	}
	if l.Name() != "test" {
		t.Errorf("Name() = %q, want %q", l.Name(), "test")
	}
}

func TestServeHandsEachConnectionToHandler(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	done := serveInBackground(l, func(c net.Conn) {
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c) // echo until the client closes
		}()
	})

	for i := range 3 {
		c, err := net.DialTimeout("tcp", l.Addr().String(), waitTimeout)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		msg := []byte("ping")
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
			t.Fatalf("read %d: %q, %v", i, got, err)
		}
		_ = c.Close()
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}

func TestCloseRefusesNewConnections(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	addr := l.Addr().String()
	done := serveInBackground(l, func(c net.Conn) { _ = c.Close() })
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitServe(t, done); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
	if c, err := net.DialTimeout("tcp", addr, waitTimeout); err == nil {
		_ = c.Close()
		t.Errorf("dial %s after Close succeeded", addr)
	}
}

func TestServeAfterCloseReturnsNil(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Serve(func(c net.Conn) error { return c.Close() }); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	for i := range 3 {
		if err := l.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

func TestServeNilHandler(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	if err := l.Serve(nil); err == nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("Serve(nil) = %v, want a nil handler error", err)
	}
}

func TestNewTCPAddressInUse(t *testing.T) {
	t.Parallel()
	first := newTestTCP(t)
	addr := first.Addr().String()
	l, err := NewTCP(Config{Name: "second", Addr: addr, FixedPort: true}, zaptest.NewLogger(t))
	if err == nil {
		_ = l.Close()
		t.Fatalf("NewTCP on busy %s succeeded", addr)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("err = %v, want EADDRINUSE", err)
	}
	for _, want := range []string{"listeners: second:", addr} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	if got, want := DefaultConfig(), (Config{Name: "tcp", Addr: ":1883", PortSearch: 100, WebSocket: WebSocketConfig{Path: "/mqtt"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultConfig() = %+v, want %+v", got, want)
	}
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{}, ""},
		{Config{Addr: "127.0.0.1:0"}, ""},
		{Config{Addr: "[::1]:1883"}, ""},
		{Config{Addr: ":0"}, ""},
		{Config{Name: "mqtt", Addr: "localhost"}, `listeners: mqtt: addr "localhost"`},
		{Config{Addr: "1.2.3.4:5:6"}, `listeners: tcp: addr "1.2.3.4:5:6"`},
		{Config{PortSearch: -1}, `listeners: tcp: port_search -1`},
		{Config{TLS: &TLSConfig{CertFile: "c", KeyFile: "k"}}, ""},
		{Config{TLS: &TLSConfig{CertFile: "c", KeyFile: "k", ClientAuth: "require", CAFile: "ca"}}, ""},
		{Config{TLS: &TLSConfig{KeyFile: "k"}}, `listeners: tcp: tls: cert_file is required`},
		{Config{TLS: &TLSConfig{CertFile: "c"}}, `listeners: tcp: tls: key_file is required`},
		{Config{TLS: &TLSConfig{CertFile: "c", KeyFile: "k", ClientAuth: "require"}}, `client_auth "require" needs ca_file`},
		{Config{TLS: &TLSConfig{CertFile: "c", KeyFile: "k", ClientAuth: "always"}}, `client_auth "always"`},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%+v.Validate() = %v, want nil", tt.cfg, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v.Validate() = %v, want error containing %q", tt.cfg, err, tt.wantErr)
		}
	}
	if _, err := NewTCP(Config{Addr: "no-port"}, nil); err == nil {
		t.Error("NewTCP with an invalid address succeeded")
	}
}

func TestNextBackoff(t *testing.T) {
	t.Parallel()
	var d time.Duration
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		d = nextBackoff(d)
		if d != w*time.Millisecond {
			t.Fatalf("step %d: delay %v, want %v", i, d, w*time.Millisecond)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return false }

func TestIsTemporary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}, true},
		{&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ENFILE}, true},
		{&net.OpError{Op: "accept", Net: "tcp", Err: syscall.ECONNABORTED}, true},
		{timeoutErr{}, true},
		{net.ErrClosed, false},
		{&net.OpError{Op: "accept", Net: "tcp", Err: net.ErrClosed}, false},
		{errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := isTemporary(tt.err); got != tt.want {
			t.Errorf("isTemporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// scriptedListener is a net.Listener whose Accept returns the scripted
// results in order, then blocks until Close.
type scriptedListener struct {
	mu     sync.Mutex
	script []acceptResult
	calls  int
	closed chan struct{}
	once   sync.Once
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newScripted(script ...acceptResult) *scriptedListener {
	return &scriptedListener{script: script, closed: make(chan struct{})}
}

func (s *scriptedListener) Accept() (net.Conn, error) {
	s.mu.Lock()
	s.calls++
	if len(s.script) > 0 {
		r := s.script[0]
		s.script = s.script[1:]
		s.mu.Unlock()
		return r.conn, r.err
	}
	s.mu.Unlock()
	<-s.closed
	return nil, net.ErrClosed
}

func (s *scriptedListener) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *scriptedListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
}

func (s *scriptedListener) acceptCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func TestServeRetriesTemporaryErrors(t *testing.T) {
	t.Parallel()
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	server, client := net.Pipe()
	defer client.Close()
	fake := newScripted(
		acceptResult{err: emfile},
		acceptResult{err: emfile},
		acceptResult{err: timeoutErr{}},
		acceptResult{conn: server},
	)
	l := newListener(Config{Name: "fake"}, zaptest.NewLogger(t), fake)
	got := make(chan net.Conn, 1)
	done := serveInBackground(l, func(c net.Conn) { got <- c })

	select {
	case c := <-got:
		if c != server {
			t.Errorf("handler got %v, want the scripted connection", c)
		}
		_ = c.Close()
	case <-time.After(waitTimeout):
		t.Fatal("connection after temporary errors never reached the handler")
	}
	if n := fake.acceptCalls(); n < 4 {
		t.Errorf("Accept called %d times, want at least 4", n)
	}
	_ = l.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestServeReturnsPermanentError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	l := newListener(Config{Name: "fake"}, nil, newScripted(acceptResult{err: boom}))
	defer l.Close()
	err := l.Serve(func(c net.Conn) error { return c.Close() })
	if !errors.Is(err, boom) {
		t.Fatalf("Serve = %v, want it to wrap %v", err, boom)
	}
	if !strings.Contains(err.Error(), "listeners: fake: accept on 127.0.0.1:1") {
		t.Errorf("Serve error %q does not name the listener and address", err)
	}
}

// blockingTemporary fails every Accept with a temporary error and reports
// each call, so a test can close the listener while Serve backs off.
type blockingTemporary struct {
	*scriptedListener
	called chan struct{}
}

func (b *blockingTemporary) Accept() (net.Conn, error) {
	select {
	case b.called <- struct{}{}:
	default:
	}
	return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
}

func TestCloseInterruptsBackoff(t *testing.T) {
	t.Parallel()
	fake := &blockingTemporary{scriptedListener: newScripted(), called: make(chan struct{}, 1)}
	l := newListener(Config{Name: "fake"}, zaptest.NewLogger(t), fake)
	done := serveInBackground(l, func(c net.Conn) { _ = c.Close() })
	select {
	case <-fake.called:
	case <-time.After(waitTimeout):
		t.Fatal("Accept never called")
	}
	_ = l.Close()
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}
