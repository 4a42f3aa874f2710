package tenant

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/certgen"
)

// TestWithTLSConfig: a tenant the application gives a TLS configuration
// serves the certificate its GetCertificate returns on both secure
// listeners; a tenant it gives none serves the node's certificate files.
func TestWithTLSConfig(t *testing.T) {
	app, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	appCert := app.ServerTLS()
	fn := func(tenant string) *tls.Config {
		if tenant != "app" {
			return nil
		}
		return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			served.Add(1)
			return &appCert, nil
		}}
	}
	files := tlsMaterial(t)
	h, _ := testHost(t, HostConfig{TLS: files}, WithTLSConfig(fn))
	for _, name := range []string{"app", "files"} {
		if _, err := h.Apply(Spec{Name: name, Auth: Auth{AllowAnonymous: true},
			Listeners: Listeners{MQTT: PortOff, WS: PortOff, MQTTS: PortAuto, WSS: PortAuto}}); err != nil {
			t.Fatal(err)
		}
	}

	for _, k := range []ListenerKind{ListenerMQTTS, ListenerWSS} {
		port := boundPort(t, h, "app", k)
		if err := handshake(port, app.CAPool()); err != nil {
			t.Fatalf("app %s: the application's certificate: %v", k, err)
		}
		if err := handshake(boundPort(t, h, "files", k), app.CAPool()); err == nil {
			t.Fatalf("files %s: verified against the application's CA, want the node's certificate", k)
		}
	}
	if n := served.Load(); n != 2 {
		t.Fatalf("GetCertificate called %d times, want 2 (one per handshake of the app tenant)", n)
	}
	// Reloading certificates leaves a configuration-served listener alone.
	if err := h.ReloadCertificates(); err != nil {
		t.Fatal(err)
	}
	if err := handshake(boundPort(t, h, "app", ListenerMQTTS), app.CAPool()); err != nil {
		t.Fatalf("after reload: %v", err)
	}
}

// handshake completes a TLS handshake with 127.0.0.1:port, verifying the
// server against roots.
func handshake(port int, roots *x509.CertPool) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		return err
	}
	return c.Close()
}
