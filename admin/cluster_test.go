package admin

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"github.com/jmqx/jmqx/internal/certgen"
	"net"
	"strings"
	"testing"
)

func TestTokenRequiredWhenSet(t *testing.T) {
	t.Parallel()
	s, c := startServer(t, newFakeBackend("n1"), Config{Token: testToken})

	expect(t, s, 200, "GET", "/healthz", "")
	expect(t, s, 200, "GET", "/readyz", "")
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, "Bearer " + testToken[:len(testToken)-1]} {
		got := expect(t, s, 401, "GET", "/v1/tenants", "", "Authorization", auth)
		if !strings.Contains(got, "Authorization: Bearer") {
			t.Errorf("401 body = %s", got)
		}
	}
	expect(t, s, 401, "GET", "/v1/local/tenants/acme/status", "")
	expect(t, s, 200, "GET", "/v1/tenants", "", "Authorization", "Bearer "+testToken)
	if _, err := c.Tenants(ctxT(t)); err != nil {
		t.Errorf("Tenants with token: %v", err)
	}
}

func TestNonLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:80"} {
		if _, err := New(Config{Addr: addr}, newFakeBackend("n1")); err == nil || !strings.Contains(err.Error(), "token is required") {
			t.Errorf("New(%s, no token) = %v; want token required", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "127.9.9.9:1", "[::1]:0", "localhost:0", ""} {
		if _, err := New(Config{Addr: addr}, newFakeBackend("n1")); err != nil {
			t.Errorf("New(%q, no token) = %v", addr, err)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:1": true, "127.255.0.3:1": true, "[::1]:1": true,
		"0.0.0.0:1": false, "[::]:1": false, "10.0.0.1:1": false, "[fe80::1]:1": false,
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := isLoopbackAddr(tcp); got != want {
			t.Errorf("isLoopbackAddr(%s) = %v; want %v", addr, got, want)
		}
	}

	ip := nonLoopbackIP(t)
	if ip == "" {
		t.Log("no non-loopback address on this machine: bind test skipped")
		return
	}
	s, _ := startServer(t, newFakeBackend("n1"), Config{Addr: net.JoinHostPort(ip, "0"), Token: testToken})
	expect(t, s, 200, "GET", "/healthz", "")
	expect(t, s, 401, "GET", "/v1/tenants", "")
	expect(t, s, 401, "POST", "/v1/tenants", `{"name":"x"}`)
	expect(t, s, 200, "GET", "/v1/tenants", "", "Authorization", "Bearer "+testToken)
}

// nonLoopbackIP is an IPv4 address of this machine other than loopback,
// "" if none.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}

func TestWriteOnFollowerIsForwarded(t *testing.T) {
	t.Parallel()
	leaderB, followerB := newFakeBackend("n1"), newFakeBackend("n2")
	leader, _ := startServer(t, leaderB, Config{Token: testToken})
	follower, fc := startServer(t, followerB, Config{Token: testToken})
	followerB.setFollowerOf(leader.Addr().String())
	ctx := ctxT(t)

	v, err := fc.CreateTenant(ctx, tenantSpec("acme"))
	if err != nil || v.Name != "acme" {
		t.Fatalf("CreateTenant via follower = %+v, %v", v, err)
	}
	if _, ok := leaderB.Tenant("acme"); !ok {
		t.Error("tenant did not land on the leader")
	}
	if _, ok := followerB.Tenant("acme"); ok {
		t.Error("tenant was written on the follower")
	}
	if err := fc.DeleteTenant(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("leader's 404 not relayed: %v", err)
	}
	// Reads are answered locally.
	if list, err := fc.Tenants(ctx); err != nil || len(list) != 0 {
		t.Errorf("follower Tenants = %+v, %v", list, err)
	}
	// The token is checked before forwarding.
	expect(t, follower, 401, "POST", "/v1/tenants", `{"name":"x"}`)
}

func TestForwardingLoopAndNoLeader(t *testing.T) {
	t.Parallel()
	ab, bb := newFakeBackend("a"), newFakeBackend("b")
	a, ac := startServer(t, ab, Config{})
	b, _ := startServer(t, bb, Config{})
	ab.setFollowerOf(b.Addr().String())
	bb.setFollowerOf(a.Addr().String())

	_, err := ac.CreateTenant(ctxT(t), tenantSpec("acme"))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 503 || !strings.Contains(ae.Message, "no leader") {
		t.Errorf("CreateTenant in a loop = %v; want 503 no leader", err)
	}

	ab.setFollowerOf("")
	got := expect(t, a, 503, "PUT", "/v1/tenants/acme", `{}`)
	if strings.TrimSpace(got) != `{"error":"no leader elected yet; retry shortly"}` {
		t.Errorf("no leader body = %s", got)
	}

	ab.setFollowerOf(closedAddr(t))
	if got := expect(t, a, 503, "DELETE", "/v1/tenants/acme", ""); !strings.Contains(got, "cannot reach the leader") {
		t.Errorf("leader down body = %s", got)
	}
}

func TestStatusFanOut(t *testing.T) {
	t.Parallel()
	b1, b2 := newFakeBackend("n1"), newFakeBackend("n2")
	b1.specs["acme"] = tenantSpec("acme")
	b1.status["acme"] = NodeStatus{Connections: 3, Listeners: map[string]string{"mqtt": "127.0.0.1:1883"}}
	b2.status["acme"] = NodeStatus{Node: "n2", Connections: 5}
	s1, c1 := startServer(t, b1, Config{Token: testToken})
	s2, _ := startServer(t, b2, Config{Token: testToken})
	b1.members = append(b1.members,
		MemberView{ID: "n2", AdminAddr: s2.Addr().String()},
		MemberView{ID: "n3", AdminAddr: closedAddr(t)},
		MemberView{ID: "n4"},
	)

	sts, err := c1.TenantStatus(ctxT(t), "acme")
	if err != nil || len(sts) != 4 {
		t.Fatalf("TenantStatus = %+v, %v", sts, err)
	}
	if sts[0].Node != "n1" || sts[0].Connections != 3 || sts[0].Error != "" {
		t.Errorf("local entry = %+v", sts[0])
	}
	if sts[1].Node != "n2" || sts[1].Connections != 5 || sts[1].Error != "" {
		t.Errorf("n2 entry = %+v", sts[1])
	}
	if sts[2].Node != "n3" || !strings.Contains(sts[2].Error, "cannot reach") {
		t.Errorf("n3 (down) entry = %+v", sts[2])
	}
	if sts[3].Node != "n4" || sts[3].Error == "" {
		t.Errorf("n4 (no address) entry = %+v", sts[3])
	}

	body := expect(t, s2, 200, "GET", "/v1/local/tenants/acme/status", "", "Authorization", "Bearer "+testToken)
	var st NodeStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Node != "n2" || st.Refusals == nil {
		t.Errorf("local status = %s, %v", body, err)
	}
	expect(t, s2, 404, "GET", "/v1/local/tenants/ghost/status", "", "Authorization", "Bearer "+testToken)
	expect(t, s1, 404, "GET", "/v1/tenants/ghost/status", "", "Authorization", "Bearer "+testToken)
}

// With TLS, the API is served over HTTPS, a client trusting the CA gets
// through, one that does not is refused, and a follower forwards writes to
// the leader over HTTPS.
func TestTLSAndForwardingOverHTTPS(t *testing.T) {
	t.Parallel()
	bundle, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Token: testToken, TLS: &tls.Config{Certificates: []tls.Certificate{bundle.ServerTLS()}, RootCAs: bundle.CAPool()}}
	leaderB, followerB := newFakeBackend("n1"), newFakeBackend("n2")
	leader, lc := startServer(t, leaderB, cfg)
	_, fc := startServer(t, followerB, cfg)
	followerB.setFollowerOf(leader.Addr().String())
	ctx := ctxT(t)
	if err := lc.Health(ctx); err != nil {
		t.Fatalf("Health over HTTPS: %v", err)
	}
	if _, err := fc.CreateTenant(ctx, tenantSpec("acme")); err != nil {
		t.Fatalf("CreateTenant via the follower over HTTPS: %v", err)
	}
	if _, ok := leaderB.Tenant("acme"); !ok {
		t.Error("tenant did not land on the leader")
	}
	untrusting, err := NewClient("https://"+leader.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := untrusting.Health(ctx); err == nil {
		t.Error("a client not trusting the CA got through")
	}
	plain, err := NewClient(leader.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Health(ctx); err == nil {
		t.Error("plain HTTP got through to an HTTPS server")
	}
}
