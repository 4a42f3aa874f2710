package node

import (
	"context"
	"crypto/tls"
	"github.com/jmqx/jmqx/internal/certgen"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*NetworkTransport).listen"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode")) // outlives Shutdown by up to a probe interval
}

const wait = 10 * time.Second

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testConfig is a node on loopback whose tenants take ports below Linux's
// ephemeral range (32768-60999), so that a restarted node finds its
// ports free, and away from the ranges other packages' tests use.
func testConfig(t *testing.T, dir string) Config {
	return Config{
		DataDir: dir, AdminAddr: "127.0.0.1:0", RaftAddr: freeAddr(t), GossipAddr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0",
		Host: tenant.HostConfig{BindHost: "127.0.0.1", AdvertiseHost: "127.0.0.1", PortMin: 15000, PortMax: 15999},
		DefaultTenant: &tenant.Spec{Name: "default", Auth: tenant.Auth{AllowAnonymous: true},
			Listeners: tenant.Listeners{MQTT: tenant.PortAuto, WS: tenant.PortOff}},
	}
}

func start(t *testing.T, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n, err := Start(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stop(t, n) })
	return n
}

func stop(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func client(t *testing.T, n *Node) *admin.Client {
	t.Helper()
	c, err := admin.NewClient(n.AdminAddr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// boundOn waits until node id has recorded an MQTT address for a tenant.
func boundOn(t *testing.T, c *admin.Client, name, id string) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		v, err := c.Tenant(context.Background(), name)
		if err == nil {
			for _, nl := range v.Nodes {
				if nl.Node == id && nl.Listeners["mqtt"] != "" {
					return nl.Listeners["mqtt"]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s: no MQTT address recorded by %s (%+v, %v)", name, id, v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBootstrapCreateAndRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n := start(t, cfg)
	if _, ok := n.Host().Get("default"); !ok {
		t.Fatal("the default tenant does not run after bootstrap")
	}
	c := client(t, n)
	if _, err := c.CreateTenant(context.Background(), tenant.Spec{Name: "acme", Listeners: tenant.Listeners{WS: tenant.PortOff}}); err != nil {
		t.Fatal(err)
	}
	addr := boundOn(t, c, "acme", n.ID())
	id := n.ID()
	stop(t, n)

	// Restart on the same data: same ID, same tenants, same auto port.
	cfg.DefaultTenant = nil
	n2 := start(t, cfg)
	if n2.ID() != id {
		t.Fatalf("node ID %s after restart, want %s", n2.ID(), id)
	}
	st, ok := n2.Host().Get("acme")
	if !ok {
		t.Fatal("acme does not run after the restart")
	}
	if st.Listeners["mqtt"] != addr {
		t.Fatalf("acme on %s after the restart, want %s", st.Listeners["mqtt"], addr)
	}
	if _, ok := n2.Host().Get("default"); !ok {
		t.Fatal("the default tenant is gone after the restart")
	}
}

// startPair starts a node and a second one joining it (without a default
// tenant of its own, its tenant ports in 16000-16999); it returns the
// second one's configuration too, to restart it.
func startPair(t *testing.T) (*Node, *Node, Config) {
	t.Helper()
	n1 := start(t, testConfig(t, t.TempDir()))
	cfg2 := testConfig(t, t.TempDir())
	cfg2.DefaultTenant = nil
	cfg2.Join = []string{n1.AdminAddr().String()}
	cfg2.Host.PortMin, cfg2.Host.PortMax = 16000, 16999
	return n1, start(t, cfg2), cfg2
}

func TestJoinAndForwardedWrite(t *testing.T) {
	n1, n2, _ := startPair(t)

	// A write to the follower lands on the leader and runs on both.
	c2 := client(t, n2)
	if _, err := c2.CreateTenant(context.Background(), tenant.Spec{Name: "shared", Listeners: tenant.Listeners{WS: tenant.PortOff}}); err != nil {
		t.Fatal(err)
	}
	a1, a2 := boundOn(t, c2, "shared", n1.ID()), boundOn(t, c2, "shared", n2.ID())
	if a1 == a2 {
		t.Fatalf("both nodes report %s", a1)
	}
	ms, err := c2.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, m := range ms {
		roles[m.ID] = m.Role
	}
	if roles[n1.ID()] != "leader" || roles[n2.ID()] != "follower" || len(ms) != 2 {
		t.Fatalf("members %+v", ms)
	}
	// The default tenant, created by the first node, also runs on the second.
	deadline := time.Now().Add(wait)
	for {
		if _, ok := n2.Host().Get("default"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the default tenant does not run on the joined node")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With AdminTLS the admin API is HTTPS, a node joins over HTTPS and a
// follower forwards writes to the leader over HTTPS.
func TestAdminOverTLS(t *testing.T) {
	bundle, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{bundle.ServerTLS()}, RootCAs: bundle.CAPool()}
	cfg1 := testConfig(t, t.TempDir())
	cfg1.AdminTLS = tlsCfg
	n1 := start(t, cfg1)
	cfg2 := testConfig(t, t.TempDir())
	cfg2.AdminTLS, cfg2.DefaultTenant = tlsCfg, nil
	cfg2.Join = []string{n1.AdminAddr().String()}
	cfg2.Host.PortMin, cfg2.Host.PortMax = 17000, 17999
	n2 := start(t, cfg2)

	c2, err := admin.NewClient("https://"+n2.AdminAddr().String(), "", admin.WithTLSConfig(&tls.Config{RootCAs: bundle.CAPool()}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CreateTenant(context.Background(), tenant.Spec{Name: "secure", Listeners: tenant.Listeners{WS: tenant.PortOff}}); err != nil {
		t.Fatalf("create through the follower over HTTPS: %v", err)
	}
	boundOn(t, c2, "secure", n1.ID())
	boundOn(t, c2, "secure", n2.ID())
	ms, err := c2.Members(context.Background())
	if err != nil || len(ms) != 2 || !ms[0].Healthy || !ms[1].Healthy {
		t.Fatalf("members over HTTPS: %+v, %v", ms, err)
	}
}
