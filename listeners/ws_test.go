package listeners

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"
)

// wsEcho is a Serve callback that echoes each connection until it ends.
func wsEcho(c net.Conn) {
	go func() {
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
}

// startWS starts a WebSocket listener on 127.0.0.1:0 serving handle, and
// returns it with the channel of Serve's result. It is closed at cleanup.
func startWS(t *testing.T, cfg Config, handle func(net.Conn)) (*Listener, <-chan error) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	l, err := NewWebSocket(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewWebSocket: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, serveInBackground(l, handle)
}

func wsURL(l *Listener, path string) string { return "ws://" + l.Addr().String() + path }

func TestWebSocketEchoesByteStream(t *testing.T) {
	t.Parallel()
	l, done := startWS(t, Config{}, wsEcho)
	if l.Name() != "ws" {
		t.Errorf("Name() = %q, want %q", l.Name(), "ws")
	}
	c := dialWSURL(t, wsURL(l, "/mqtt"), nil, "mqtt")
	if c.Subprotocol() != "mqtt" {
		t.Errorf("subprotocol %q, want mqtt", c.Subprotocol())
	}
	wsWriteFrames(t, c, "\x10\x0c", "\x00\x04MQTT", "\x04\x02\x00\x3c\x00\x00", "\xc0\x00\xc0\x00")
	want := "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\xc0\x00\xc0\x00"
	if got := wsReadStream(t, c, len(want)); string(got) != want {
		t.Errorf("echo = %q, want %q", got, want)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	// The upgraded connection outlives the listener.
	wsWriteFrames(t, c, "after")
	if got := wsReadStream(t, c, len("after")); string(got) != "after" {
		t.Errorf("echo after Close = %q", got)
	}
	if _, _, err := dialWSRaw(wsURL(l, "/mqtt"), nil, nil, "mqtt"); err == nil {
		t.Error("dial after Close succeeded")
	}
}

func TestWebSocketRefusals(t *testing.T) {
	t.Parallel()
	l, _ := startWS(t, Config{WebSocket: WebSocketConfig{
		Path:           "/ws",
		AllowedOrigins: []string{"https://app.example"},
	}}, wsEcho)
	tests := []struct {
		name       string
		path       string
		origin     string
		protos     []string
		wantStatus int // 0: upgraded
	}{
		{"configured path", "/ws", "", []string{"mqtt"}, 0},
		{"default path is not served", "/mqtt", "", []string{"mqtt"}, http.StatusNotFound},
		{"other path", "/ws/x", "", []string{"mqtt"}, http.StatusNotFound},
		{"allowed origin", "/ws", "https://app.example", []string{"mqtt"}, 0},
		{"origin case-insensitive", "/ws", "HTTPS://APP.EXAMPLE", []string{"mqtt"}, 0},
		{"disallowed origin", "/ws", "https://evil.example", []string{"mqtt"}, http.StatusForbidden},
		{"legacy subprotocol", "/ws", "", []string{"mqttv3.1"}, 0},
		{"no subprotocol", "/ws", "", nil, 0},
		{"other subprotocols only", "/ws", "", []string{"graphql-ws", "MQTT"}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hdr http.Header
			if tt.origin != "" {
				hdr = http.Header{"Origin": {tt.origin}}
			}
			c, resp, err := dialWSRaw(wsURL(l, tt.path), hdr, nil, tt.protos...)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.Close()
				if len(tt.protos) > 0 && c.Subprotocol() != tt.protos[0] {
					t.Errorf("subprotocol %q, want %q", c.Subprotocol(), tt.protos[0])
				}
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatalf("dial succeeded, want HTTP %d", tt.wantStatus)
			}
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != tt.wantStatus {
				t.Errorf("dial = %v (response %v), want HTTP %d", err, resp, tt.wantStatus)
			}
		})
	}
}

func TestWebSocketWildcardOrigin(t *testing.T) {
	t.Parallel()
	l, _ := startWS(t, Config{WebSocket: WebSocketConfig{AllowedOrigins: []string{"https://a.example", "*"}}}, wsEcho)
	dialWSURL(t, wsURL(l, "/mqtt"), http.Header{"Origin": {"https://anything.example"}}, "mqtt")
}

func TestWebSocketTextFrameCloses(t *testing.T) {
	t.Parallel()
	l, _ := startWS(t, Config{}, wsEcho)
	c := dialWSURL(t, wsURL(l, "/mqtt"), nil, "mqtt")
	if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatalf("write text: %v", err)
	}
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Errorf("read = %v, want close 1003", err)
	}
}

func TestWebSocketAnswersPing(t *testing.T) {
	t.Parallel()
	l, _ := startWS(t, Config{}, wsEcho)
	c := dialWSURL(t, wsURL(l, "/mqtt"), nil, "mqtt")
	var pong string
	c.SetPongHandler(func(data string) error { pong = data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(waitTimeout)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	wsWriteFrames(t, c, "x")
	// The server answers the ping before reading "x", so the pong arrives
	// before the echo.
	if got := wsReadStream(t, c, 1); string(got) != "x" {
		t.Fatalf("echo = %q", got)
	}
	if pong != "are you there" {
		t.Errorf("pong %q, want the ping's payload", pong)
	}
}

func TestNewWebSocketConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		cfg     Config
		wantErr string
	}{
		{Config{Addr: "127.0.0.1:0", WebSocket: WebSocketConfig{Path: "mqtt"}}, `listeners: ws: websocket path "mqtt"`},
		{Config{Addr: "nowhere"}, `listeners: ws: addr "nowhere"`},
		{Config{Addr: "127.0.0.1:0", TLS: &TLSConfig{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}}, "listeners: wss: certificate"},
		{Config{Addr: "127.0.0.1:0", TLS: &TLSConfig{}}, "listeners: wss: tls: cert_file is required"},
	}
	for _, tt := range tests {
		l, err := NewWebSocket(tt.cfg, zaptest.NewLogger(t))
		if err == nil {
			_ = l.Close()
			t.Errorf("NewWebSocket(%+v) succeeded, want %q", tt.cfg, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("NewWebSocket(%+v) = %v, want it to contain %q", tt.cfg, err, tt.wantErr)
		}
	}
}

func TestNewWebSocketCopiesAllowedOrigins(t *testing.T) {
	t.Parallel()
	origins := []string{"https://app.example"}
	l, _ := startWS(t, Config{WebSocket: WebSocketConfig{AllowedOrigins: origins}}, wsEcho)
	origins[0] = "https://evil.example" // must not reach the listener
	if _, resp, err := dialWSRaw(wsURL(l, "/mqtt"), http.Header{"Origin": {"https://evil.example"}}, nil, "mqtt"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("dial with the caller's changed origin: %v, want HTTP 403", err)
	}
}

func TestSecureWebSocketWithClientCertificate(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ws-ca")
	server, client := ca.issue(t, "localhost", true), ca.issue(t, "jmqx-test", false)
	tlsCfg := tlsFiles(t, server, ca, "require")
	pair := client.tls
	states := make(chan tls.ConnectionState, 1)
	handle := func(c net.Conn) {
		if cs, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
			states <- cs.ConnectionState()
		} else {
			t.Errorf("secure WebSocket conn %T has no ConnectionState", c)
		}
		wsEcho(c)
	}
	l, _ := startWS(t, Config{TLS: &tlsCfg}, handle)
	if l.Name() != "wss" {
		t.Errorf("Name() = %q, want %q", l.Name(), "wss")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	url := "wss://" + l.Addr().String() + "/mqtt"

	// Without a client certificate the TLS handshake fails.
	noCert := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}}
	if c, _, err := dialWSRaw(url, nil, noCert, "mqtt"); err == nil {
		_ = c.Close()
		t.Fatal("dial without a client certificate succeeded")
	}

	d := &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}}
	c, _, err := dialWSRaw(url, nil, d, "mqtt")
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	wsWriteFrames(t, c, "secure")
	if got := wsReadStream(t, c, len("secure")); string(got) != "secure" {
		t.Errorf("echo = %q", got)
	}
	select {
	case cs := <-states:
		if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0].Subject.CommonName != "jmqx-test" {
			t.Errorf("ConnectionState: complete %v, %d peer certificates", cs.HandshakeComplete, len(cs.PeerCertificates))
		}
	case <-time.After(waitTimeout):
		t.Fatal("handler never called")
	}
	if err := l.Reload(); err != nil {
		t.Errorf("Reload: %v", err)
	}
}

func TestWebSocketServeAfterCloseReturnsNil(t *testing.T) {
	t.Parallel()
	l, err := NewWebSocket(Config{Addr: "127.0.0.1:0"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewWebSocket: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Serve(func(c net.Conn) error { wsEcho(c); return nil }); err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
}
