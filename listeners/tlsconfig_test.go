package listeners

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/internal/certgen"
)

// certSource is a certificate store as an application has one (ACME,
// Vault, its own database): GetCertificate counts the handshakes it served.
type certSource struct {
	cert  tls.Certificate
	calls atomic.Int32
}

func (s *certSource) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.calls.Add(1)
	return &s.cert, nil
}

func newCertSource(t *testing.T) (*certSource, *certgen.Bundle) {
	t.Helper()
	b, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return &certSource{cert: b.ServerTLS()}, b
}

// An MQTTS listener given a *tls.Config serves the certificate its
// GetCertificate returns, verifies client certificates as it says, and
// accepts TLS 1.2 at least even when the Config allows less.
func TestTLSFromConfigGetCertificate(t *testing.T) {
	t.Parallel()
	src, bundle := newCertSource(t)
	conf := &tls.Config{GetCertificate: src.get, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: bundle.CAPool(), MinVersion: tls.VersionTLS10}
	l, seen := serveTLS(t, TLSConfig{Config: conf})
	if err := l.Reload(); err != nil {
		t.Errorf("Reload without files: %v", err)
	}

	c, err := dialTLS(l, bundle.ClientConfig("127.0.0.1"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	hs := <-seen
	if hs.err != nil || len(hs.state.PeerCertificates) == 0 || hs.state.PeerCertificates[0].Subject.CommonName != bundle.Client.Cert.Subject.CommonName {
		t.Fatalf("server handshake: %v, peer certificates %d", hs.err, len(hs.state.PeerCertificates))
	}
	if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(bundle.Server.Cert) {
		t.Errorf("server presented %s, want GetCertificate's", got.Subject)
	}
	if src.calls.Load() == 0 {
		t.Error("GetCertificate never called")
	}

	old := bundle.ClientConfig("127.0.0.1")
	old.MaxVersion = tls.VersionTLS11
	if c, err := dialTLS(l, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client was accepted")
	}
	noCert := bundle.ClientConfig("127.0.0.1")
	noCert.Certificates = nil
	if c, err := dialTLS(l, noCert); err == nil {
		// TLS 1.3 reports the server's refusal on the first read.
		_, err = c.Read(buf)
		c.Close()
		if err == nil {
			t.Error("a client without a certificate was served")
		}
	}
}

// A secure WebSocket listener given a *tls.Config (offering "h2", as an
// ACME client's does) serves the upgrade over HTTP/1.1 with its
// certificate.
func TestWebSocketTLSFromConfig(t *testing.T) {
	t.Parallel()
	src, bundle := newCertSource(t)
	conf := &tls.Config{GetCertificate: src.get, NextProtos: []string{"h2", "http/1.1"}}
	l, err := NewWebSocket(Config{Addr: "127.0.0.1:0", TLS: &TLSConfig{Config: conf}}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewWebSocket: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	serveInBackground(l, wsEcho)
	if l.Name() != "wss" {
		t.Errorf("Name() = %q, want wss", l.Name())
	}
	client := bundle.ClientConfig("127.0.0.1")
	client.NextProtos = []string{"h2", "http/1.1"}
	c, _, err := dialWSRaw("wss://"+l.Addr().String()+"/mqtt", nil, &websocket.Dialer{TLSClientConfig: client}, "mqtt")
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer c.Close()
	wsWriteFrames(t, c, "hello")
	if got := wsReadStream(t, c, 5); string(got) != "hello" {
		t.Fatalf("echo %q", got)
	}
	if src.calls.Load() == 0 {
		t.Error("GetCertificate never called")
	}
	if len(conf.NextProtos) != 2 {
		t.Errorf("the caller's NextProtos changed: %v", conf.NextProtos)
	}
}

// A TLSConfig with both a *tls.Config and files, or a *tls.Config without
// any certificate source, is refused before binding.
func TestTLSConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tls  TLSConfig
		want string
	}{
		{TLSConfig{Config: &tls.Config{}, CertFile: "a.pem"}, "use one or the other"},
		{TLSConfig{Config: &tls.Config{}}, "no Certificates, GetCertificate or GetConfigForClient"},
	} {
		if _, err := NewTLS(Config{Addr: "127.0.0.1:0", TLS: &tc.tls}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewTLS: %v, want %q", err, tc.want)
		}
		if _, err := NewWebSocket(Config{Addr: "127.0.0.1:0", TLS: &tc.tls}, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewWebSocket: %v, want %q", err, tc.want)
		}
	}
}

// A handler's error refuses one connection, not the listener: Serve goes
// on to the next.
func TestServeAfterHandlerError(t *testing.T) {
	t.Parallel()
	l := newTestTCP(t)
	handled := make(chan net.Conn, 2)
	n := 0
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(func(c net.Conn) error {
			n++
			handled <- c
			if n == 1 {
				_ = c.Close()
				return errors.New("refused")
			}
			return nil
		})
	}()
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		(<-handled).Close()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve: %v", err)
	}
}
