package admin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/jmqx/jmqx/tenant"
)

// startAudited starts a Server over b whose log is observed, from debug
// level up, as well as written to the test's log.
func startAudited(t *testing.T, b Backend, cfg Config) (*Server, *Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	cfg.Addr = "127.0.0.1:0"
	s, err := New(cfg, b, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	c, err := NewClient(s.Addr().String(), cfg.Token)
	if err != nil {
		t.Fatal(err)
	}
	return s, c, logs
}

// auditLines returns the fields of the audit lines logged so far.
func auditLines(logs *observer.ObservedLogs) []map[string]any {
	var out []map[string]any
	for _, e := range logs.FilterLoggerName("admin.audit").FilterMessage("admin write").All() {
		if e.Level != zapcore.InfoLevel {
			continue
		}
		out = append(out, e.ContextMap())
	}
	return out
}

// checkLine fails t unless line has every field of want (values compared
// as text).
func checkLine(t *testing.T, line map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(line[k]) != fmt.Sprint(v) {
			t.Errorf("audit line %v: %s = %v, want %v", line, k, line[k], v)
		}
	}
}

// TestAuditLogsEveryWrite: each write, whatever its outcome, is one info
// line naming the route, the tenant, user, rule or member it changed, the
// status and the caller's address; reads are not logged; no password,
// hash or token ever appears.
func TestAuditLogsEveryWrite(t *testing.T) {
	t.Parallel()
	s, c, logs := startAudited(t, newFakeBackend("n1"), Config{Token: testToken})
	ctx := ctxT(t)
	auth := []string{"Authorization", "Bearer " + testToken}

	if _, err := c.CreateTenant(ctx, tenantSpec("acme")); err != nil {
		t.Fatal(err)
	}
	if err := c.AddUser(ctx, "acme", "alice", testHash); err != nil {
		t.Fatal(err)
	}
	expect(t, s, 201, "POST", "/v1/tenants/acme/users", `{"name":"bob","password":"plain-pass-word"}`, auth...)
	if err := c.RotateUser(ctx, "acme", "alice", testHashOther, true); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveUser(ctx, "acme", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddRule(ctx, "acme", tenant.Rule{Action: "allow", Topic: "a/#", User: "alice"}, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveRule(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Tenants(ctx); err != nil { // a read: not logged
		t.Fatal(err)
	}
	expect(t, s, 404, "DELETE", "/v1/tenants/ghost", "", auth...)
	expect(t, s, 401, "POST", "/v1/tenants", `{"name":"sneaky"}`, "Authorization", "Bearer wrong-token-wrong-token")
	expect(t, s, 403, "PUT", "/v1/tenants/acme/acl", `{"rules":[]}`, append(auth, "Origin", "http://evil.example")...)
	if err := c.DeleteTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}

	lines := auditLines(logs)
	want := []map[string]any{
		{"action": "create tenant", "route": "POST /v1/tenants", "tenant": "acme", "status": 201},
		{"action": "add user", "tenant": "acme", "user": "alice", "status": 201},
		{"action": "add user", "tenant": "acme", "user": "bob", "status": 201},
		{"action": "rotate user credentials", "tenant": "acme", "user": "alice", "status": 200},
		{"action": "remove user", "tenant": "acme", "user": "bob", "status": 204},
		{"action": "add ACL rule", "tenant": "acme", "status": 201},
		{"action": "remove ACL rule", "tenant": "acme", "rule": "0", "status": 200},
		{"action": "delete tenant", "tenant": "ghost", "status": 404},
		{"method": "POST", "path": "/v1/tenants", "status": 401},
		{"method": "PUT", "path": "/v1/tenants/acme/acl", "status": 403},
		{"action": "delete tenant", "tenant": "acme", "status": 204},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d audit lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, w := range want {
		checkLine(t, lines[i], w)
		if r, _ := lines[i]["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
			t.Errorf("line %d: remote %q, want the caller's address", i, r)
		}
		if _, ok := lines[i]["forwarded_by"]; ok {
			t.Errorf("line %d: a direct write says it was forwarded: %v", i, lines[i])
		}
	}
	if e, _ := lines[7]["error"].(string); !strings.Contains(e, "ghost") {
		t.Errorf("the refused write's line does not say why: %v", lines[7])
	}
	if e, _ := lines[9]["error"].(string); !strings.Contains(e, "cross-site") {
		t.Errorf("the cross-site write's line does not say why: %v", lines[9])
	}
	for _, e := range logs.All() {
		text := fmt.Sprint(e.Message, e.ContextMap())
		for _, secret := range []string{testHash, testHashOther, "plain-pass-word", testToken, "wrong-token-wrong-token"} {
			if strings.Contains(text, secret) {
				t.Errorf("a log line holds a secret %q: %s", secret, text)
			}
		}
	}
}

// TestAuditForwardedWrite: a write sent to a follower is logged once, by
// the leader that applies it, with the follower's ID and the caller's
// address; a write the follower cannot relay is logged by the follower.
func TestAuditForwardedWrite(t *testing.T) {
	t.Parallel()
	leaderB, followerB := newFakeBackend("n1"), newFakeBackend("n2")
	leader, _, leaderLogs := startAudited(t, leaderB, Config{Token: testToken})
	follower, _, followerLogs := startAudited(t, followerB, Config{Token: testToken})
	followerB.setFollowerOf(leader.Addr().String())

	status, caller := callFrom(t, follower, "POST", "/v1/tenants", `{"name":"acme"}`)
	if status != http.StatusCreated {
		t.Fatalf("create through the follower: %d", status)
	}
	lines := auditLines(leaderLogs)
	if len(lines) != 1 {
		t.Fatalf("leader: %d audit lines, want 1: %v", len(lines), lines)
	}
	checkLine(t, lines[0], map[string]any{"action": "create tenant", "tenant": "acme", "status": 201,
		"forwarded_by": "n2", "forwarded_for": caller})
	if lines[0]["remote"] == caller {
		t.Errorf("remote %v is the caller's address: want the follower's connection", lines[0]["remote"])
	}
	if got := auditLines(followerLogs); len(got) != 0 {
		t.Errorf("the follower logged the write it relayed as well: %v", got)
	}

	followerB.setFollowerOf("")
	if status, _ := callFrom(t, follower, "DELETE", "/v1/tenants/acme", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("delete without a leader: %d, want 503", status)
	}
	lines = auditLines(followerLogs)
	if len(lines) != 1 {
		t.Fatalf("follower: %d audit lines, want 1: %v", len(lines), lines)
	}
	checkLine(t, lines[0], map[string]any{"action": "delete tenant", "tenant": "acme", "status": 503})
	if len(auditLines(leaderLogs)) != 1 {
		t.Error("the leader logged a write it never received")
	}
}

// callFrom sends a write with the test token to s and returns the status
// and the address the request came from.
func callFrom(t *testing.T, s *Server, method, path, body string) (int, string) {
	t.Helper()
	var local string
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			local = conn.LocalAddr().String()
		}
		return conn, err
	}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctxT(t), method, "http://"+s.Addr().String()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, local
}
