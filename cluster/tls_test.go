package cluster

import (
	"crypto/tls"
	"testing"

	"github.com/jmqx/jmqx/internal/certgen"
)

// TestLinksOverMutualTLS: with the Raft TLS material, links run over
// mutual TLS and messages cross nodes as before.
func TestLinksOverMutualTLS(t *testing.T) {
	b, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}})
	if err != nil {
		t.Fatal(err)
	}
	client := b.ClientTLS()
	cfg := &tls.Config{
		Certificates:         []tls.Certificate{b.ServerTLS()},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &client, nil },
		RootCAs:              b.CAPool(),
		ClientCAs:            b.CAPool(),
		ClientAuth:           tls.RequireAndVerifyClientCert,
		MinVersion:           tls.VersionTLS12,
	}
	_, nodes := three(t, func(c *Config) { c.TLS = cfg })
	sub := dial(t, nodes[2], "sub")
	sub.sub(t, "tls/#", 1)
	pub := dial(t, nodes[0], "pub")
	pub.pub(t, "tls/x", "secret", 1)
	if m := sub.expect(t); string(m.Payload) != "secret" {
		t.Fatalf("got %q", m.Payload)
	}
}

// TestWrongSecretIsRefused: a node with another secret gets no link.
func TestWrongSecretIsRefused(t *testing.T) {
	n := &testNet{t: t}
	a := n.start("a", "127.0.0.1")
	b := n.start("b", "127.0.0.2", func(c *Config) { c.Secret = []byte("another cluster's secret") })
	// Gossip is encrypted with another key, and links prove another
	// secret: neither sees the other.
	pub := dial(t, a, "pub")
	sub := dial(t, b, "sub")
	sub.sub(t, "x", 1)
	pub.pub(t, "x", "1", 1)
	for _, m := range a.c.Members() {
		if m.Name == "b" && m.Link == "up" {
			t.Fatalf("a has a link to b: %+v", m)
		}
	}
	if st, _ := a.c.Stats("t"); st.RemoteRoutes != 0 {
		t.Fatalf("a holds b's routes: %+v", st)
	}
}
