package meta

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/internal/certgen"
)

// tcpConfig returns a Config for a node on a free loopback port with
// fast timings.
func tcpConfig(t *testing.T, id string, bootstrap bool) Config {
	cfg := fastConfig(id)
	cfg.Dir = t.TempDir()
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Bootstrap = bootstrap
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	return cfg
}

// openStore opens a Store and shuts it down with the test.
func openStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg, WithLogger(zaptest.NewLogger(t).Named(cfg.NodeID)))
	if err != nil {
		t.Fatalf("Open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return s
}

// waitSelfLeader waits until s leads.
func waitSelfLeader(t *testing.T, s *Store) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New(s.ID() + " is not the leader")
		}
		return nil
	})
}

func TestOpenRestartKeepsState(t *testing.T) {
	t.Parallel()
	cfg := tcpConfig(t, "n1", true)
	ctx := testContext(t, 20*time.Second)
	s := openStore(t, cfg)
	waitSelfLeader(t, s)
	if err := s.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("a")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, CmdPutMember, PutMember{Member: Member{ID: "n1", RaftAddr: s.RaftAddr()}}); err != nil {
		t.Fatal(err)
	}
	want := stateJSON(t, s.State())
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := s.Apply(ctx, CmdDeleteTenant, DeleteTenant{Name: "a"}); err == nil {
		t.Fatal("Apply after Shutdown succeeded")
	}

	s2 := openStore(t, cfg)
	waitSelfLeader(t, s2)
	if err := s2.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stateJSON(t, s2.State()); got != want {
		t.Fatalf("state after restart:\n got %s\nwant %s", got, want)
	}
}

// testJoin has a second node join a bootstrapped first one over the
// network transport, and checks replication and forwarding information.
func testJoin(t *testing.T, tlsCfg *tls.Config) {
	c1, c2 := tcpConfig(t, "n1", true), tcpConfig(t, "n2", false)
	c1.TLS, c2.TLS = tlsCfg, tlsCfg
	ctx := testContext(t, 20*time.Second)
	s1, s2 := openStore(t, c1), openStore(t, c2)
	waitSelfLeader(t, s1)
	if strings.HasSuffix(s1.RaftAddr(), ":0") {
		t.Fatalf("RaftAddr %s does not report the bound port", s1.RaftAddr())
	}
	if err := s1.AddVoter(ctx, s2.ID(), s2.RaftAddr()); err != nil {
		t.Fatalf("AddVoter: %v", err)
	}
	if err := s1.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("a")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error { return hasTenants(s2.State(), "a") })
	var nl *NotLeaderError
	if err := s2.Apply(ctx, CmdDeleteTenant, DeleteTenant{Name: "a"}); !errors.As(err, &nl) || nl.LeaderAddr != s1.RaftAddr() {
		t.Fatalf("Apply on follower = %v, want *NotLeaderError naming %s", err, s1.RaftAddr())
	}
	servers, err := s2.Servers()
	if err != nil || len(servers) != 2 || servers[0].Role != "leader" || servers[1].Role != "follower" {
		t.Fatalf("Servers on follower = %+v, %v", servers, err)
	}
	if err := s1.RemoveServer(ctx, s2.ID()); err != nil {
		t.Fatalf("RemoveServer: %v", err)
	}
	if err := s1.RemoveServer(ctx, s2.ID()); err != nil {
		t.Fatalf("RemoveServer again: %v", err)
	}
}

func TestOpenJoinTCP(t *testing.T) {
	t.Parallel()
	testJoin(t, nil)
}

func TestOpenJoinMutualTLS(t *testing.T) {
	t.Parallel()
	b, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
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
	testJoin(t, cfg)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{NodeID: "n1", Dir: "/tmp/x"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	tests := map[string]func(*Config){
		"no node id":              func(c *Config) { c.NodeID = "" },
		"no dir":                  func(c *Config) { c.Dir = "" },
		"bad bind":                func(c *Config) { c.BindAddr = "nope" },
		"unspecified bind":        func(c *Config) { c.BindAddr = "0.0.0.0:18084" },
		"unspecified advertise":   func(c *Config) { c.AdvertiseAddr = "0.0.0.0:18084" },
		"negative heartbeat":      func(c *Config) { c.HeartbeatTimeout = -time.Second },
		"lease above heartbeat":   func(c *Config) { c.LeaderLeaseTimeout = 2 * time.Second },
		"advertise is a DNS name": func(c *Config) { c.AdvertiseAddr = "example.com:18084" },
	}
	for name, mutate := range tests {
		c := ok
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
	}
	c := ok
	c.BindAddr, c.AdvertiseAddr = "0.0.0.0:18084", "10.0.0.1:18084"
	if err := c.Validate(); err != nil {
		t.Errorf("wildcard bind with advertise: %v", err)
	}
	if d := DefaultConfig(); d.HeartbeatTimeout != time.Second || d.LeaderLeaseTimeout != 500*time.Millisecond || d.BindAddr != DefaultBindAddr {
		t.Errorf("DefaultConfig = %+v", d)
	}
}
