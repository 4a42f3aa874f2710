package certgen

import (
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// generate calls Generate and fails the test on error.
func generate(t *testing.T, opts Options) *Bundle {
	t.Helper()
	b, err := Generate(opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return b
}

// verify checks cert against b's CA for the usage and, if set, host.
func verify(b *Bundle, cert *x509.Certificate, host string, usage x509.ExtKeyUsage) error {
	_, err := cert.Verify(x509.VerifyOptions{
		DNSName:   host,
		Roots:     b.CAPool(),
		KeyUsages: []x509.ExtKeyUsage{usage},
	})
	return err
}

func TestGenerateDefaults(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{})

	ca := b.CA.Cert
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v, basic constraints %v, key usage %b; want a CA that signs certificates",
			ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := verify(b, b.Server.Cert, host, x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if err := verify(b, b.Server.Cert, "example.com", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("server certificate verified for example.com")
	}
	if err := verify(b, b.Client.Cert, "", x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if got := b.Client.Cert.Subject.CommonName; got != DefaultClientCN {
		t.Errorf("client CN = %q, want %q", got, DefaultClientCN)
	}
	// Each certificate is good for its own side only.
	if err := verify(b, b.Server.Cert, "localhost", x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("server certificate verified for client auth")
	}
	if err := verify(b, b.Client.Cert, "", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("client certificate verified for server auth")
	}
	for name, p := range map[string]Pair{"CA": b.CA, "server": b.Server, "client": b.Client} {
		if p.Key.Curve != elliptic.P256() {
			t.Errorf("%s key curve = %s, want P-256", name, p.Key.Curve.Params().Name)
		}
		if got := p.Cert.NotAfter.Sub(p.Cert.NotBefore); got != DefaultValidity {
			t.Errorf("%s valid for %s, want %s", name, got, DefaultValidity)
		}
		if now := time.Now(); now.Before(p.Cert.NotBefore) || now.After(p.Cert.NotAfter) {
			t.Errorf("%s not valid now: %s to %s", name, p.Cert.NotBefore, p.Cert.NotAfter)
		}
	}
	if want := DefaultHosts(); !slices.Equal(b.Hosts, want) {
		t.Errorf("Hosts = %q, want %q", b.Hosts, want)
	}
}

func TestGenerateHosts(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{
		Hosts:    []string{"127.0.0.1", "MQTT.example.com.", "[::1]", "127.0.0.1", "*.local.test", " mqtt.example.com "},
		ClientCN: "device-42",
		Validity: 48 * time.Hour,
	})
	s := b.Server.Cert
	if want := []string{"mqtt.example.com", "*.local.test"}; !slices.Equal(s.DNSNames, want) {
		t.Errorf("DNS names = %q, want %q", s.DNSNames, want)
	}
	if len(s.IPAddresses) != 2 || !s.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !s.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IP addresses = %v, want [127.0.0.1 ::1]", s.IPAddresses)
	}
	if want := []string{"127.0.0.1", "mqtt.example.com", "::1", "*.local.test"}; !slices.Equal(b.Hosts, want) {
		t.Errorf("Hosts = %q, want %q", b.Hosts, want)
	}
	if s.Subject.CommonName != "127.0.0.1" {
		t.Errorf("server CN = %q, want the first host", s.Subject.CommonName)
	}
	for _, host := range []string{"127.0.0.1", "::1", "mqtt.example.com", "a.local.test"} {
		if err := verify(b, s, host, x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if err := verify(b, s, "localhost", x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("server certificate verified for localhost, which is not among the hosts")
	}
	if got := b.Client.Cert.Subject.CommonName; got != "device-42" {
		t.Errorf("client CN = %q, want device-42", got)
	}
	if got := s.NotAfter.Sub(s.NotBefore); got != 48*time.Hour {
		t.Errorf("valid for %s, want 48h", got)
	}
}

func TestGenerateOnlyIP(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{Hosts: []string{"127.0.0.1"}})
	if len(b.Server.Cert.DNSNames) != 0 {
		t.Errorf("DNS names = %q, want none", b.Server.Cert.DNSNames)
	}
	if err := verify(b, b.Server.Cert, "127.0.0.1", x509.ExtKeyUsageServerAuth); err != nil {
		t.Error(err)
	}
}

func TestGenerateRefusesBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Hosts: []string{""}}, `host "": empty`},
		{Options{Hosts: []string{"localhost:8883"}}, `host "localhost:8883": not an IP address`},
		{Options{Hosts: []string{"bad host"}}, `host "bad host"`},
		{Options{Hosts: []string{"a..b"}}, "empty DNS label"},
		{Options{Hosts: []string{"*"}}, `host "*"`},
		{Options{Validity: -time.Hour}, "validity -1h0m0s"},
	}
	for _, tt := range tests {
		_, err := Generate(tt.opts)
		if !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Generate(%+v) = %v, want ErrBadOptions containing %q", tt.opts, err, tt.want)
		}
	}
}

func TestGenerateExpired(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{NotBefore: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	var invalid x509.CertificateInvalidError
	err := verify(b, b.Server.Cert, "localhost", x509.ExtKeyUsageServerAuth)
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("verify expired certificate = %v, want x509.Expired", err)
	}
}

// handshake runs a TLS handshake over loopback TCP and returns the server's
// and the client's errors, and what the server saw. (net.Pipe would not do:
// it has no buffer, so a peer sending an alert while the other is still
// writing its flight deadlocks.)
func handshake(t *testing.T, server, client *tls.Config) (state tls.ConnectionState, serverErr, clientErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(10 * time.Second)
	type result struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		_ = c.SetDeadline(deadline)
		srv := tls.Server(c, server)
		err = srv.Handshake()
		// Read until the client closes, so a client certificate refused
		// after the client's handshake returned (TLS 1.3) reaches it.
		_, _ = io.Copy(io.Discard, srv)
		_ = srv.Close()
		done <- result{err, srv.ConnectionState()}
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(deadline)
	cli := tls.Client(c, client)
	clientErr = cli.Handshake()
	if clientErr == nil {
		// With TLS 1.3, a refused client certificate shows on the
		// client's first read; a good one shows as the server's EOF after
		// CloseWrite.
		_ = cli.CloseWrite()
		if _, err := cli.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			clientErr = err
		}
	}
	_ = cli.Close()
	r := <-done
	return r.state, r.err, clientErr
}

func TestMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{Hosts: []string{"127.0.0.1", "localhost"}})
	for _, name := range []string{"127.0.0.1", "localhost"} {
		state, serverErr, clientErr := handshake(t, b.ServerConfig(tls.RequireAndVerifyClientCert), b.ClientConfig(name))
		if serverErr != nil || clientErr != nil {
			t.Fatalf("handshake for %s: server %v, client %v", name, serverErr, clientErr)
		}
		if len(state.PeerCertificates) != 1 || state.PeerCertificates[0].Subject.CommonName != DefaultClientCN {
			t.Errorf("server saw client certificates %v, want one for %s", state.PeerCertificates, DefaultClientCN)
		}
		if len(state.VerifiedChains) != 1 {
			t.Errorf("server verified %d chains, want 1", len(state.VerifiedChains))
		}
	}
}

func TestPlainTLSHandshake(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{})
	state, serverErr, clientErr := handshake(t, b.ServerConfig(tls.NoClientCert), &tls.Config{RootCAs: b.CAPool(), ServerName: "localhost"})
	if serverErr != nil || clientErr != nil {
		t.Fatalf("handshake: server %v, client %v", serverErr, clientErr)
	}
	if len(state.PeerCertificates) != 0 {
		t.Errorf("server got a client certificate it did not ask for")
	}
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	b := generate(t, Options{})
	other := generate(t, Options{})
	tests := []struct {
		name           string
		server, client *tls.Config
	}{
		{"client without certificate", b.ServerConfig(tls.RequireAndVerifyClientCert),
			&tls.Config{RootCAs: b.CAPool(), ServerName: "localhost"}},
		{"client certificate from another CA", b.ServerConfig(tls.RequireAndVerifyClientCert),
			&tls.Config{RootCAs: b.CAPool(), ServerName: "localhost", Certificates: []tls.Certificate{other.ClientTLS()}}},
		{"server from another CA", other.ServerConfig(tls.NoClientCert), b.ClientConfig("localhost")},
		{"server name not in certificate", b.ServerConfig(tls.NoClientCert), b.ClientConfig("example.com")},
	}
	for _, tt := range tests {
		_, serverErr, clientErr := handshake(t, tt.server, tt.client)
		if serverErr == nil || clientErr == nil {
			t.Errorf("%s: handshake: server %v, client %v; want both to fail", tt.name, serverErr, clientErr)
		}
	}
}
