package listeners

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// handshake is what the server side of a test TLS listener saw.
type handshake struct {
	state tls.ConnectionState
	err   error
}

// serveTLS runs a TLS listener for cfg whose handler completes the
// handshake, reports it on the returned channel, and then echoes bytes until
// the client closes. Cleanup closes the listener and waits for Serve.
func serveTLS(t *testing.T, cfg TLSConfig) (*Listener, <-chan handshake) {
	t.Helper()
	l, err := NewTLS(Config{Addr: "127.0.0.1:0", TLS: &cfg}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("NewTLS: %v", err)
	}
	seen := make(chan handshake, 16)
	done := serveInBackground(l, func(c net.Conn) {
		go func() {
			defer c.Close()
			tc := c.(*tls.Conn)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			err := tc.HandshakeContext(ctx)
			cancel()
			seen <- handshake{tc.ConnectionState(), err}
			if err == nil {
				_, _ = io.Copy(c, c)
			}
		}()
	})
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := waitServe(t, done); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l, seen
}

// clientConfig trusts ca for the server and presents cert when not nil,
// even when the server's list of acceptable CAs does not name its issuer
// (crypto/tls would otherwise send no certificate), so the server's
// verification is what gets tested.
func clientConfig(ca *testCA, cert *testCert) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert.tls, nil
		}
	}
	return c
}

// dialTLS connects to l and completes the client side of the handshake.
func dialTLS(l *Listener, conf *tls.Config) (*tls.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: waitTimeout}, Config: conf}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(waitTimeout))
	return tc, nil
}

// echo writes msg over c and reads it back. With TLS 1.3 a client
// certificate is checked after the client's handshake returns, so a refusal
// surfaces here.
func echo(c net.Conn, msg string) error {
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo = %q, want %q", got, msg)
	}
	return nil
}

func serverSaw(t *testing.T, seen <-chan handshake) handshake {
	t.Helper()
	select {
	case h := <-seen:
		return h
	case <-time.After(waitTimeout):
		t.Fatal("server never finished a handshake")
		return handshake{}
	}
}

func TestTLSRoundTrip(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	l, seen := serveTLS(t, tlsFiles(t, ca.issue(t, "server", true), ca, "none"))
	if l.Name() != "mqtts" {
		t.Errorf("Name() = %q, want mqtts", l.Name())
	}
	c, err := dialTLS(l, clientConfig(ca, nil))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if err := echo(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if h := serverSaw(t, seen); h.err != nil || h.state.Version < tls.VersionTLS12 {
		t.Errorf("server handshake: version %x, err %v", h.state.Version, h.err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server" {
		t.Errorf("server certificate CN = %q", cn)
	}
}

func TestTLSRefusesOldVersions(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	l, seen := serveTLS(t, tlsFiles(t, ca.issue(t, "server", true), ca, "none"))
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conf := clientConfig(ca, nil)
		conf.MinVersion, conf.MaxVersion = v, v
		c, err := dialTLS(l, conf)
		if err == nil {
			_ = c.Close()
			t.Errorf("client limited to %s connected", tls.VersionName(v))
		}
		if h := serverSaw(t, seen); h.err == nil || !strings.Contains(h.err.Error(), "unsupported versions") {
			t.Errorf("server handshake with a %s client: version %s, err %v; want a version refusal",
				tls.VersionName(v), tls.VersionName(h.state.Version), h.err)
		}
	}
}

func TestTLSClientAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	rogue := newTestCA(t, "rogue ca")
	server := ca.issue(t, "server", true)
	good := ca.issue(t, "client", false)
	bad := rogue.issue(t, "intruder", false)

	tests := []struct {
		mode   string
		client *testCert
		accept bool
	}{
		{"require", good, true},
		{"require", nil, false},
		{"require", bad, false},
		{"request", good, true},
		{"request", nil, true},
		{"request", bad, false},
		{"none", bad, true}, // not asked for, not looked at
	}
	for _, tt := range tests {
		name := "nil"
		if tt.client != nil {
			name = tt.client.tls.Leaf.Subject.CommonName
		}
		t.Run(tt.mode+"/"+name, func(t *testing.T) {
			t.Parallel()
			l, seen := serveTLS(t, tlsFiles(t, server, ca, tt.mode))
			c, err := dialTLS(l, clientConfig(ca, tt.client))
			if err == nil {
				defer c.Close()
				err = echo(c, "ping")
			}
			h := serverSaw(t, seen)
			if !tt.accept {
				if err == nil || h.err == nil {
					t.Fatalf("connection accepted (client err %v, server err %v)", err, h.err)
				}
				return
			}
			if err != nil || h.err != nil {
				t.Fatalf("connection refused: client %v, server %v", err, h.err)
			}
			if tt.mode == "none" || tt.client == nil {
				if len(h.state.PeerCertificates) != 0 {
					t.Errorf("server saw %d client certificates, want none", len(h.state.PeerCertificates))
				}
				return
			}
			if len(h.state.PeerCertificates) == 0 || h.state.PeerCertificates[0].Subject.CommonName != "client" {
				t.Fatalf("server saw client certificates %v", h.state.PeerCertificates)
			}
			if len(h.state.VerifiedChains) == 0 || !h.state.VerifiedChains[0][len(h.state.VerifiedChains[0])-1].Equal(ca.cert) {
				t.Errorf("verified chains %v do not end at the CA", h.state.VerifiedChains)
			}
		})
	}
}

// serverCN dials l and returns the common name of the certificate it
// served.
func serverCN(l *Listener, ca *testCA) (string, error) {
	c, err := dialTLS(l, clientConfig(ca, nil))
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// eventually retries cond until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", d, err)
		}
		<-tick.C
	}
}

func TestTLSRotation(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"Reload", "watch"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ca := newTestCA(t, "ca")
			a, b := ca.issue(t, "server-a", true), ca.issue(t, "server-bee", true)
			cfg := tlsFiles(t, a, ca, "none")
			if how == "watch" {
				cfg.ReloadInterval = 20 * time.Millisecond
			}
			l, _ := serveTLS(t, cfg)

			old, err := dialTLS(l, clientConfig(ca, nil))
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer old.Close()
			if err := echo(old, "before"); err != nil {
				t.Fatal(err)
			}

			writeFile(t, cfg.CertFile, b.certPEM)
			writeFile(t, cfg.KeyFile, b.keyPEM)
			wait := waitTimeout // for the watcher's next poll
			if how == "Reload" {
				if err := l.Reload(); err != nil {
					t.Fatalf("Reload: %v", err)
				}
				wait = 0 // Reload applies before it returns
			}
			eventually(t, wait, func() error {
				cn, err := serverCN(l, ca)
				if err == nil && cn != "server-bee" {
					err = fmt.Errorf("served %q", cn)
				}
				return err
			})

			if cn := old.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "server-a" {
				t.Errorf("old connection's certificate CN = %q", cn)
			}
			if err := echo(old, "after"); err != nil {
				t.Fatalf("old connection broken by the rotation: %v", err)
			}
		})
	}
}

func TestTLSReloadFailureKeepsCertificate(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cfg := tlsFiles(t, ca.issue(t, "server-a", true), ca, "none")
	l, _ := serveTLS(t, cfg)
	writeFile(t, cfg.CertFile, []byte("truncated"))
	err := l.Reload()
	if err == nil || !strings.Contains(err.Error(), "listeners: mqtts: reload: certificate "+cfg.CertFile) {
		t.Fatalf("Reload = %v, want an error naming %s", err, cfg.CertFile)
	}
	if cn, err := serverCN(l, ca); err != nil || cn != "server-a" {
		t.Errorf("after a failed reload: CN %q, err %v; want the old certificate", cn, err)
	}
}

func TestNewTLSNeedsTLSConfig(t *testing.T) {
	t.Parallel()
	l, err := NewTLS(Config{Addr: "127.0.0.1:0"}, nil)
	if err == nil {
		_ = l.Close()
		t.Fatal("NewTLS without TLS settings succeeded")
	}
	if !strings.Contains(err.Error(), "listeners: mqtts: ") {
		t.Errorf("err = %q, want the listener named", err)
	}
}

func TestNewTCPRefusesTLSConfig(t *testing.T) {
	t.Parallel()
	l, err := NewTCP(Config{Addr: "127.0.0.1:0", TLS: &TLSConfig{CertFile: "c", KeyFile: "k"}}, nil)
	if err == nil {
		_ = l.Close()
		t.Fatal("NewTCP served a TLS configuration in plaintext")
	}
}

func TestReloadWithoutTLSIsNil(t *testing.T) {
	t.Parallel()
	if err := newTestTCP(t).Reload(); err != nil {
		t.Errorf("Reload on TCP = %v, want nil", err)
	}
}

func TestNewTLSDoesNotKeepCallerConfig(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cfg := tlsFiles(t, ca.issue(t, "server", true), ca, "none")
	l, err := NewTLS(Config{Addr: "127.0.0.1:0", TLS: &cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg.CertFile = "/nonexistent"
	if err := l.Reload(); err != nil {
		t.Errorf("Reload after the caller changed its copy: %v", err)
	}
}
