package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/tenant"
)

func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	b := newFakeBackend("n1")
	s, c := startServer(t, b, Config{})

	if got := expect(t, s, 200, "GET", "/healthz", ""); strings.TrimSpace(got) != `{"status":"ok"}` {
		t.Errorf("healthz body = %s", got)
	}
	if got := expect(t, s, 200, "GET", "/readyz", ""); strings.TrimSpace(got) != `{"status":"ready"}` {
		t.Errorf("readyz body = %s", got)
	}
	b.mu.Lock()
	b.readyErr = errors.New("no leader yet")
	b.mu.Unlock()
	expect(t, s, 503, "GET", "/readyz", "")
	err := c.Ready(ctxT(t))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 503 || ae.Message != "not ready: no leader yet" {
		t.Errorf("Ready() = %#v", err)
	}
	if err := c.Health(ctxT(t)); err != nil {
		t.Errorf("Health() = %v", err)
	}
}

func TestTenantRoutes(t *testing.T) {
	t.Parallel()
	s, c := startServer(t, newFakeBackend("n1"), Config{})
	ctx := ctxT(t)

	body := expect(t, s, 201, "POST", "/v1/tenants", `{"name":"acme"}`)
	if !strings.Contains(body, `"nodes":[]`) {
		t.Errorf("create body lacks empty nodes: %s", body)
	}
	expect(t, s, 201, "POST", "/v1/tenants", `{"name":"acme"}`) // same spec: idempotent
	if _, err := c.CreateTenant(ctx, tenant.Spec{Name: "acme", Auth: tenant.Auth{AllowAnonymous: true}}); !errors.Is(err, ErrExists) {
		t.Errorf("CreateTenant(different) = %v; want ErrExists", err)
	}
	if _, err := c.CreateTenant(ctx, tenant.Spec{Name: "Bad_Name"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "lower-case") {
		t.Errorf("CreateTenant(bad name) = %v; want 400 naming the rule", err)
	}

	v, err := c.PutTenant(ctx, tenant.Spec{Name: "beta", Auth: tenant.Auth{AllowAnonymous: true}})
	if err != nil || v.Name != "beta" || !v.Spec.Auth.AllowAnonymous || v.Nodes == nil {
		t.Fatalf("PutTenant = %+v, %v", v, err)
	}
	expect(t, s, 200, "PUT", "/v1/tenants/beta", `{}`) // empty name takes the path's
	if got := expect(t, s, 400, "PUT", "/v1/tenants/beta", `{"name":"gamma"}`); !strings.Contains(got, "does not match") {
		t.Errorf("mismatched name: %s", got)
	}

	list, err := c.Tenants(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "acme" || list[1].Name != "beta" {
		t.Fatalf("Tenants = %+v, %v", list, err)
	}
	if got, err := c.Tenant(ctx, "acme"); err != nil || got.Name != "acme" {
		t.Errorf("Tenant(acme) = %+v, %v", got, err)
	}
	if _, err := c.Tenant(ctx, "nope"); !errors.Is(err, ErrNotFound) || err.Error() != `tenant "nope" does not exist` {
		t.Errorf("Tenant(nope) = %v", err)
	}

	if err := c.DeleteTenant(ctx, "beta"); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	expect(t, s, 404, "DELETE", "/v1/tenants/beta", "")
}

func TestEmptyListsAreArrays(t *testing.T) {
	t.Parallel()
	b := newFakeBackend("n1")
	b.members = nil
	s, _ := startServer(t, b, Config{})
	for _, p := range []string{"/v1/tenants", "/v1/cluster/members"} {
		if got := strings.TrimSpace(expect(t, s, 200, "GET", p, "")); got != "[]" {
			t.Errorf("GET %s = %s; want []", p, got)
		}
	}
}

func TestBackendErrorMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("meta: %w: quota", ErrInvalid), 400},
		{fmt.Errorf("tenant x: %w", ErrNotFound), 404},
		{fmt.Errorf("tenant x: %w", ErrExists), 409},
		{fmt.Errorf("meta: apply: %w", ErrNotLeader), 503},
		{errors.New("disk full"), 500},
	} {
		b := newFakeBackend("n1")
		b.writeErr = tc.err
		s, _ := startServer(t, b, Config{})
		got := expect(t, s, tc.want, "POST", "/v1/tenants", `{"name":"acme"}`)
		if !strings.Contains(got, tc.err.Error()) {
			t.Errorf("%v: body %s lacks the message", tc.err, got)
		}
	}
}

func TestUserRoutes(t *testing.T) {
	t.Parallel()
	b := newFakeBackend("n1")
	s, c := startServer(t, b, Config{})
	ctx := ctxT(t)
	hash := testHash
	expect(t, s, 201, "POST", "/v1/tenants", `{"name":"acme"}`)

	if err := c.AddUser(ctx, "acme", "dev", hash); err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	if err := c.AddUser(ctx, "acme", "dev", hash); !errors.Is(err, ErrExists) {
		t.Errorf("AddUser again = %v; want ErrExists", err)
	}
	expect(t, s, 201, "POST", "/v1/tenants/acme/users", `{"name":"plain","password":"pw"}`)
	if v, _ := b.Tenant("acme"); !strings.HasPrefix(v.Spec.Auth.Users[1].PasswordHashes[0], "$2") {
		t.Errorf("plain password stored as %q; want a bcrypt hash", v.Spec.Auth.Users[1].PasswordHashes[0])
	}
	for body, want := range map[string]string{
		`{"name":"x"}`: "password or password_hash is required",
		`{"name":"x","password":"a","password_hash":"b"}`: "not both",
		`{"password":"a"}`:                    "name is required",
		`{"name":"x","password_hash":"nope"}`: "password_hashes[0]",
	} {
		if got := expect(t, s, 400, "POST", "/v1/tenants/acme/users", body); !strings.Contains(got, want) {
			t.Errorf("POST users %s = %s; want %q", body, got, want)
		}
	}
	expect(t, s, 404, "POST", "/v1/tenants/nope/users", `{"name":"x","password_hash":"`+hash+`"}`)

	if err := c.RotateUser(ctx, "acme", "dev", hash+"x", false); !errors.Is(err, ErrInvalid) {
		t.Errorf("RotateUser(bad hash) = %v; want ErrInvalid", err)
	}
	if err := c.RotateUser(ctx, "acme", "dev", testHashOther, false); err != nil {
		t.Fatalf("RotateUser: %v", err)
	}
	users, err := c.Users(ctx, "acme")
	if err != nil || len(users) != 2 || users[0] != (UserView{Name: "dev", Credentials: 2}) {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	// revoke_old alone keeps the newest hash.
	if err := c.RotateUser(ctx, "acme", "dev", "", true); err != nil {
		t.Fatalf("RotateUser(revoke only): %v", err)
	}
	if v, _ := b.Tenant("acme"); !slices.Equal(v.Spec.Auth.Users[0].PasswordHashes, []string{testHashOther}) {
		t.Errorf("after revoke_old alone: %v, want [the newest]", v.Spec.Auth.Users[0].PasswordHashes)
	}
	if err := c.RotateUser(ctx, "acme", "dev", "", true); !errors.Is(err, ErrInvalid) {
		t.Errorf("RotateUser(revoke only, one hash) = %v; want ErrInvalid (nothing to revoke)", err)
	}
	if err := c.RotateUser(ctx, "acme", "dev", hash, true); err != nil {
		t.Fatalf("RotateUser(revoke): %v", err)
	}
	if v, _ := b.Tenant("acme"); !slices.Equal(v.Spec.Auth.Users[0].PasswordHashes, []string{hash}) {
		t.Errorf("after revoke_old: %v", v.Spec.Auth.Users[0].PasswordHashes)
	}
	if err := c.RotateUser(ctx, "acme", "ghost", hash, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateUser(ghost) = %v; want ErrNotFound", err)
	}
	if got := expect(t, s, 200, "GET", "/v1/tenants/acme/users", ""); strings.Contains(got, "$2") || strings.Contains(got, "hash") {
		t.Errorf("user list shows hashes: %s", got)
	}

	if err := c.RemoveUser(ctx, "acme", "dev"); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	expect(t, s, 404, "DELETE", "/v1/tenants/acme/users/dev", "")
}

func TestACLRoutes(t *testing.T) {
	t.Parallel()
	s, c := startServer(t, newFakeBackend("n1"), Config{})
	ctx := ctxT(t)
	expect(t, s, 201, "POST", "/v1/tenants", `{"name":"acme"}`)

	if err := c.PutACL(ctx, "acme", tenant.ACL{Default: tenant.Deny}); err != nil {
		t.Fatalf("PutACL: %v", err)
	}
	pub := tenant.Rule{Action: tenant.Allow, Access: tenant.AccessPublish, Topic: "a/#"}
	sub := tenant.Rule{Action: tenant.Allow, Access: tenant.AccessSubscribe, Topic: "b/#"}
	if _, err := c.AddRule(ctx, "acme", pub, -1); err != nil {
		t.Fatalf("AddRule(append): %v", err)
	}
	acl, err := c.AddRule(ctx, "acme", sub, 0)
	if err != nil || acl.Default != tenant.Deny || len(acl.Rules) != 2 || acl.Rules[0] != sub || acl.Rules[1] != pub {
		t.Fatalf("AddRule(0) = %+v, %v", acl, err)
	}
	if _, err := c.AddRule(ctx, "acme", sub, 5); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddRule(5) = %v; want ErrInvalid", err)
	}
	if _, err := c.AddRule(ctx, "acme", tenant.Rule{Action: "maybe", Topic: "x"}, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddRule(invalid) = %v; want ErrInvalid", err)
	}
	acl, err = c.RemoveRule(ctx, "acme", 0)
	if err != nil || len(acl.Rules) != 1 || acl.Rules[0] != pub {
		t.Fatalf("RemoveRule(0) = %+v, %v", acl, err)
	}
	if _, err := c.RemoveRule(ctx, "acme", 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveRule(7) = %v; want ErrNotFound", err)
	}
	expect(t, s, 400, "DELETE", "/v1/tenants/acme/acl/rules/first", "")
	if got, err := c.ACL(ctx, "acme"); err != nil || len(got.Rules) != 1 {
		t.Errorf("ACL = %+v, %v", got, err)
	}
	if _, err := c.ACL(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ACL(nope) = %v", err)
	}
}

func TestClusterRoutes(t *testing.T) {
	t.Parallel()
	s, c := startServer(t, newFakeBackend("n1"), Config{})
	ctx := ctxT(t)

	if got := expect(t, s, 400, "POST", "/v1/cluster/join", `{"id":"n2","raft_addr":"h:1"}`); !strings.Contains(got, "admin_addr is required") {
		t.Errorf("join without admin_addr: %s", got)
	}
	if err := c.Join(ctx, MemberView{ID: "n2", RaftAddr: "h:1", AdminAddr: "h:2", GossipAddr: "h:3", ClusterAddr: "h:4", Gossip: "alive"}); err != nil {
		t.Fatalf("Join: %v", err)
	}
	ms, err := c.Members(ctx)
	if err != nil || len(ms) != 2 || ms[1].ID != "n2" || !ms[1].Voter {
		t.Fatalf("Members = %+v, %v", ms, err)
	}
	if m := ms[1]; m.GossipAddr != "h:3" || m.ClusterAddr != "h:4" || m.Gossip != "" {
		t.Errorf("joined member = %+v; want the data-plane addresses passed on, and no gossip state", m)
	}
	if err := c.RemoveMember(ctx, "n2"); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	if err := c.RemoveMember(ctx, "n2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveMember again = %v; want ErrNotFound", err)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, newFakeBackend("n1"), Config{})
	expect(t, s, 404, "GET", "/v1/nothing", "")
	got := expect(t, s, 405, "PATCH", "/v1/tenants", "")
	if !strings.Contains(got, "GET, POST") {
		t.Errorf("405 body = %s", got)
	}
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, newFakeBackend("n1"), Config{})
	big := `{"name":"acme","acl":{"rules":[` + strings.Repeat(`{"action":"allow","topic":"a"},`, 40000) + `]}}`
	if len(big) <= maxBodyBytes {
		t.Fatalf("test body only %d bytes", len(big))
	}
	expect(t, s, http.StatusRequestEntityTooLarge, "POST", "/v1/tenants", big)
	for body, want := range map[string]string{
		`{"name":"acme","bogus":1}`:     `unknown field \"bogus\"`,
		``:                              "request body is empty",
		`{"name":`:                      "JSON ends too early",
		`{"name":"a"} {}`:               "unexpected data after",
		`{"name":7}`:                    "name must be a JSON string",
		`{"name":"a","limits":{"x":1}}`: `unknown field \"x\"`,
	} {
		if got := expect(t, s, 400, "POST", "/v1/tenants", body); !strings.Contains(got, want) {
			t.Errorf("POST %q = %s; want %q", body, got, want)
		}
	}
}

func TestRecordBoundIsAWrite(t *testing.T) {
	fb := newFakeBackend("n1")
	fb.specs["t1"] = tenant.Spec{Name: "t1"}
	_, c := startServer(t, fb, Config{})
	ctx := t.Context()
	if err := c.RecordBound(ctx, "t1", "n2", map[string]string{"mqtt": "127.0.0.1:1883"}); err != nil {
		t.Fatalf("RecordBound: %v", err)
	}
	if err := c.RecordBound(ctx, "nope", "n2", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RecordBound on a missing tenant = %v; want ErrNotFound", err)
	}
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.bound) != 1 || fb.bound[0] != "n2/t1" {
		t.Fatalf("recorded %v", fb.bound)
	}
}

// A write with If-Match succeeds only while the tenant is at that
// revision, also when a follower forwards it.
func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	leaderB, followerB := newFakeBackend("n1"), newFakeBackend("n2")
	leaderB.specs["acme"] = tenantSpec("acme")
	leader, lc := startServer(t, leaderB, Config{})
	_, fc := startServer(t, followerB, Config{})
	followerB.setFollowerOf(leader.Addr().String())
	ctx := t.Context()

	v, err := lc.Tenant(ctx, "acme")
	if err != nil || v.Revision == "" {
		t.Fatalf("Tenant = %+v, %v; want a revision", v, err)
	}
	spec := v.Spec
	spec.Limits.MaxConnections = 5
	v2, err := fc.UpdateTenant(ctx, spec, v.Revision) // through the follower
	if err != nil {
		t.Fatalf("UpdateTenant at the current revision: %v", err)
	}
	if v2.Revision == v.Revision {
		t.Fatalf("the revision did not change: %s", v2.Revision)
	}
	spec.Limits.MaxConnections = 6
	if _, err := lc.UpdateTenant(ctx, spec, v.Revision); !errors.Is(err, ErrChanged) {
		t.Fatalf("UpdateTenant at a stale revision = %v; want ErrChanged (412)", err)
	}
	if err := fc.UpdateACL(ctx, "acme", tenant.ACL{Default: tenant.Deny}, v.Revision); !errors.Is(err, ErrChanged) {
		t.Fatalf("UpdateACL at a stale revision = %v; want ErrChanged", err)
	}
	if err := lc.UpdateACL(ctx, "acme", tenant.ACL{Default: tenant.Deny}, v2.Revision); err != nil {
		t.Fatalf("UpdateACL at the current revision: %v", err)
	}
	if got, _ := leaderB.Tenant("acme"); got.Spec.Limits.MaxConnections != 5 || got.Spec.ACL.Default != tenant.Deny {
		t.Fatalf("stored %+v", got.Spec)
	}
	if _, err := lc.UpdateTenant(ctx, tenantSpec("ghost"), v.Revision); !errors.Is(err, ErrChanged) {
		t.Fatalf("UpdateTenant of a missing tenant with If-Match = %v; want ErrChanged", err)
	}
}
