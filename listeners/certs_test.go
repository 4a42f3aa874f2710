package listeners

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// testCA is a certificate authority made up for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// testCert is a leaf certificate and its key, PEM-encoded.
type testCert struct {
	certPEM, keyPEM []byte
	tls             tls.Certificate
}

// lastSerial makes every test certificate's serial number distinct.
var lastSerial atomic.Int64

func nextSerial() *big.Int { return big.NewInt(lastSerial.Add(1)) }

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse CA: %v", err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a server (for 127.0.0.1 and localhost) or client certificate
// with common name cn.
func (ca *testCA) issue(t *testing.T, cn string, server bool) *testCert {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("create certificate %s: %v", cn, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	c := &testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	if c.tls, err = tls.X509KeyPair(c.certPEM, c.keyPEM); err != nil {
		t.Fatalf("key pair %s: %v", cn, err)
	}
	return c
}

// writeFile replaces path atomically (write then rename), as certificate
// managers do, so a watcher never reads half a file.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsFiles writes a server certificate, its key and a CA file into a fresh
// directory and returns the TLSConfig naming them.
func tlsFiles(t *testing.T, server *testCert, ca *testCA, clientAuth string) TLSConfig {
	t.Helper()
	dir := t.TempDir()
	cfg := TLSConfig{
		CertFile:       filepath.Join(dir, "server.pem"),
		KeyFile:        filepath.Join(dir, "server-key.pem"),
		CAFile:         filepath.Join(dir, "ca.pem"),
		ClientAuth:     clientAuth,
		ReloadInterval: -1,
	}
	writeFile(t, cfg.CertFile, server.certPEM)
	writeFile(t, cfg.KeyFile, server.keyPEM)
	writeFile(t, cfg.CAFile, ca.pem)
	return cfg
}

func TestNewCertStoreErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	server := ca.issue(t, "server", true)
	other := ca.issue(t, "other", true)

	tests := []struct {
		name   string
		mutate func(cfg *TLSConfig)
		wantIn func(cfg TLSConfig) []string
	}{
		{"missing cert", func(c *TLSConfig) { c.CertFile += ".missing" },
			func(c TLSConfig) []string { return []string{"certificate " + c.CertFile, "no such file"} }},
		{"garbage cert", func(c *TLSConfig) { writeFile(t, c.CertFile, []byte("not a certificate")) },
			func(c TLSConfig) []string { return []string{"certificate " + c.CertFile, "no PEM certificate"} }},
		{"corrupt cert", func(c *TLSConfig) {
			writeFile(t, c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
		}, func(c TLSConfig) []string { return []string{"certificate " + c.CertFile} }},
		{"missing key", func(c *TLSConfig) { c.KeyFile += ".missing" },
			func(c TLSConfig) []string { return []string{"key " + c.KeyFile, "no such file"} }},
		{"garbage key", func(c *TLSConfig) { writeFile(t, c.KeyFile, []byte("nope")) },
			func(c TLSConfig) []string { return []string{"key " + c.KeyFile, "no PEM private key"} }},
		{"mismatched key", func(c *TLSConfig) { writeFile(t, c.KeyFile, other.keyPEM) },
			func(c TLSConfig) []string { return []string{"key " + c.KeyFile, c.CertFile, "does not match"} }},
		{"require without CA", func(c *TLSConfig) { c.ClientAuth, c.CAFile = "require", "" },
			func(TLSConfig) []string { return []string{`client_auth "require" needs ca_file`} }},
		{"request without CA", func(c *TLSConfig) { c.ClientAuth, c.CAFile = "request", "" },
			func(TLSConfig) []string { return []string{`client_auth "request" needs ca_file`} }},
		{"missing CA", func(c *TLSConfig) { c.ClientAuth, c.CAFile = "require", c.CAFile+".missing" },
			func(c TLSConfig) []string { return []string{"CA " + c.CAFile, "no such file"} }},
		{"garbage CA", func(c *TLSConfig) { c.ClientAuth = "require"; writeFile(t, c.CAFile, []byte("x")) },
			func(c TLSConfig) []string { return []string{"CA " + c.CAFile, "no PEM certificate"} }},
		{"unknown client auth", func(c *TLSConfig) { c.ClientAuth = "optional" },
			func(TLSConfig) []string { return []string{`client_auth "optional"`} }},
		{"no cert file", func(c *TLSConfig) { c.CertFile = "" },
			func(TLSConfig) []string { return []string{"cert_file is required"} }},
		{"no key file", func(c *TLSConfig) { c.KeyFile = "" },
			func(TLSConfig) []string { return []string{"key_file is required"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tlsFiles(t, server, ca, "none")
			tt.mutate(&cfg)
			s, err := newCertStore(cfg, zaptest.NewLogger(t))
			if err == nil {
				t.Fatalf("newCertStore succeeded: %+v", s)
			}
			for _, want := range tt.wantIn(cfg) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to contain %q", err, want)
				}
			}
			// NewTLS refuses the same configuration, naming the listener.
			l, err := NewTLS(Config{Name: "secure", Addr: "127.0.0.1:0", TLS: &cfg}, zaptest.NewLogger(t))
			if err == nil {
				_ = l.Close()
				t.Fatal("NewTLS succeeded")
			}
			if !strings.HasPrefix(err.Error(), "listeners: secure: ") {
				t.Errorf("NewTLS err = %q, want the listener named", err)
			}
		})
	}
}

func TestNewCertStoreIgnoresCAWithoutClientAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cfg := tlsFiles(t, ca.issue(t, "server", true), ca, "none")
	cfg.CAFile += ".missing" // never read with "none"
	s, err := newCertStore(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("newCertStore: %v", err)
	}
	if c := s.cur.Load().config; c.ClientCAs != nil || c.ClientAuth != tls.NoClientCert {
		t.Errorf("config asks for client certificates: %v %v", c.ClientAuth, c.ClientCAs)
	}
}

func TestTLSConfigClientAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	server := ca.issue(t, "server", true)
	for mode, want := range map[string]tls.ClientAuthType{
		"":        tls.NoClientCert,
		"none":    tls.NoClientCert,
		"request": tls.VerifyClientCertIfGiven,
		"require": tls.RequireAndVerifyClientCert,
	} {
		s, err := newCertStore(tlsFiles(t, server, ca, mode), zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("%q: %v", mode, err)
		}
		outer := s.tlsConfig()
		inner, err := outer.GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if outer.MinVersion != tls.VersionTLS12 || inner.MinVersion != tls.VersionTLS12 {
			t.Errorf("%q: MinVersion %x/%x, want TLS 1.2", mode, outer.MinVersion, inner.MinVersion)
		}
		if outer.ClientAuth != want || inner.ClientAuth != want {
			t.Errorf("%q: ClientAuth %v/%v, want %v", mode, outer.ClientAuth, inner.ClientAuth, want)
		}
		if (inner.ClientCAs != nil) != (want != tls.NoClientCert) {
			t.Errorf("%q: ClientCAs = %v", mode, inner.ClientCAs)
		}
	}
}

func TestWatchStopEndsGoroutine(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cfg := tlsFiles(t, ca.issue(t, "server", true), ca, "none")
	cfg.ReloadInterval = time.Millisecond
	s, err := newCertStore(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	stop := s.watch()
	stop()
	stop() // idempotent
	cfg.ReloadInterval = -1
	s.cfg = cfg
	s.watch()() // polling off: stop is a no-op
}

func TestChangedTracksLastLoadAttempt(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t, "ca")
	cfg := tlsFiles(t, ca.issue(t, "server-a", true), ca, "require")
	s, err := newCertStore(cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if s.changed() {
		t.Fatal("changed right after loading")
	}
	writeFile(t, cfg.CAFile, newTestCA(t, "ca-2").pem) // the CA file is watched too
	if !s.changed() {
		t.Fatal("new CA file not noticed")
	}
	if err := s.reload(); err != nil || s.changed() {
		t.Fatalf("reload = %v, changed after = %v", err, s.changed())
	}
	writeFile(t, cfg.CertFile, []byte("half written"))
	if !s.changed() {
		t.Fatal("rewritten certificate not noticed")
	}
	if err := s.reload(); err == nil {
		t.Fatal("reload of a broken certificate succeeded")
	}
	if s.changed() {
		t.Error("a failed reload is retried before the files change again")
	}
	if cn := s.cur.Load().leaf.Subject.CommonName; cn != "server-a" {
		t.Errorf("current certificate %q after a failed reload, want server-a", cn)
	}
	if err := os.Remove(cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
	if !s.changed() {
		t.Error("removed key not noticed")
	}
}
