package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/tenant"
)

// victimServer starts a server over a backend with the tenant "victim",
// which has one user.
func victimServer(t *testing.T, cfg Config) (*Server, *fakeBackend) {
	t.Helper()
	b := newFakeBackend("n1")
	b.specs["victim"] = tenant.Spec{Name: "victim",
		Auth: tenant.Auth{Users: []tenant.User{{Name: "dev", PasswordHashes: []string{testHash}}}}}
	s, _ := startServer(t, b, cfg)
	return s, b
}

// victimUnchanged fails t unless "victim" still has exactly its user and no
// ACL rule, and the cluster its one member.
func victimUnchanged(t *testing.T, b *fakeBackend) {
	t.Helper()
	v, _ := b.Tenant("victim")
	if len(v.Spec.Auth.Users) != 1 || len(v.Spec.ACL.Rules) != 0 || len(b.Members()) != 1 {
		t.Errorf("a refused request changed state: users %+v, rules %+v, members %+v",
			v.Spec.Auth.Users, v.Spec.ACL.Rules, b.Members())
	}
}

func TestCrossSiteWritesRefused(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{}, {Token: testToken}} {
		s, b := victimServer(t, cfg)
		auth := "Bearer " + cfg.Token
		evil := "http://evil.example"
		for _, tt := range []struct {
			method, path, body string
			header             []string
			want               string
		}{
			// What a web page sends without a preflight: a "simple" type.
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Content-Type", "text/plain", "Origin", evil}, "Origin"},
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Content-Type", "text/plain"}, "application/json"},
			{"POST", "/v1/tenants/victim/acl/rules", `{"action":"allow","topic":"#"}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, "application/json"},
			{"POST", "/v1/cluster/join", `{"id":"x","raft_addr":"h:1","admin_addr":"h:2"}`, []string{"Content-Type", "text/plain", "Origin", evil}, "Origin"},
			{"POST", "/v1/cluster/join", `{"id":"x","raft_addr":"h:1","admin_addr":"h:2"}`, []string{"Content-Type", "multipart/form-data; boundary=x"}, "application/json"},
			{"POST", "/v1/cluster/join", `{"id":"x","raft_addr":"h:1","admin_addr":"h:2"}`, []string{"Content-Type", ""}, "application/json"},
			// Even as JSON (after a preflight it would not get), or as
			// null, or announced by the browser as cross-site.
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Origin", evil}, "Origin"},
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Origin", "null"}, "Origin"},
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Origin", "http://" + s.Addr().String() + ".evil.example"}, "Origin"},
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Sec-Fetch-Site", "cross-site"}, "Sec-Fetch-Site"},
			{"POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, []string{"Sec-Fetch-Site", "same-site"}, "Sec-Fetch-Site"},
			{"DELETE", "/v1/tenants/victim/users/dev", "", []string{"Origin", evil}, "Origin"},
			{"DELETE", "/v1/tenants/victim", "", []string{"Origin", "http://localhost:1"}, "Origin"},
			{"DELETE", "/v1/tenants/victim/acl/rules/0", "{}", []string{"Content-Type", "text/plain"}, "application/json"},
			{"PUT", "/v1/tenants/victim/acl", `{"default":"deny"}`, []string{"Content-Type", "text/plain"}, "application/json"},
		} {
			header := append([]string{"Authorization", auth}, tt.header...)
			got := expect(t, s, http.StatusForbidden, tt.method, tt.path, tt.body, header...)
			if !strings.Contains(got, tt.want) {
				t.Errorf("%s %s %v: body %s; want it to name %q", tt.method, tt.path, tt.header, got, tt.want)
			}
		}
		victimUnchanged(t, b)
		if v, _ := b.Tenant("victim"); v.Spec.ACL.Default != "" {
			t.Errorf("ACL changed to %+v", v.Spec.ACL)
		}
	}
}

func TestSameSiteWritesAccepted(t *testing.T) {
	t.Parallel()
	s, b := victimServer(t, Config{})
	self := "http://" + s.Addr().String()
	expect(t, s, 201, "POST", "/v1/tenants/victim/users", `{"name":"a","password_hash":"`+testHash+`"}`)
	expect(t, s, 201, "POST", "/v1/tenants/victim/users", `{"name":"b","password_hash":"`+testHash+`"}`,
		"Content-Type", "application/json; charset=utf-8", "Origin", self, "Sec-Fetch-Site", "same-origin")
	expect(t, s, 201, "POST", "/v1/tenants/victim/users", `{"name":"c","password_hash":"`+testHash+`"}`,
		"Sec-Fetch-Site", "none")
	// A DELETE without a body needs no content type.
	expect(t, s, 204, "DELETE", "/v1/tenants/victim/users/a", "", "Content-Type", "")
	// Reads carry no rule but the Host one.
	expect(t, s, 200, "GET", "/v1/tenants/victim/users", "", "Origin", "http://evil.example")
	if v, _ := b.Tenant("victim"); len(v.Spec.Auth.Users) != 3 {
		t.Errorf("users = %+v; want dev, b and c", v.Spec.Auth.Users)
	}
}

func TestHostHeaderMustNameTheNode(t *testing.T) {
	t.Parallel()
	s, b := victimServer(t, Config{AllowedHosts: []string{"Admin.Example", "192.0.2.7"}})
	_, p, _ := strings.Cut(s.Addr().String(), ":")
	for _, host := range []string{"evil.example:" + p, "evil.example", "127.0.0.1.evil.example:" + p, "[::1]:" + p, "127.0.0.2:" + p, "localhost.evil:" + p} {
		for _, path := range []string{"/v1/tenants", "/healthz", "/readyz"} {
			if got := expect(t, s, http.StatusForbidden, "GET", path, "", "Host", host); !strings.Contains(got, "Host header") {
				t.Errorf("GET %s Host %s: %s", path, host, got)
			}
		}
		expect(t, s, http.StatusForbidden, "POST", "/v1/tenants/victim/users", `{"name":"x","password":"p"}`, "Host", host)
	}
	for _, host := range []string{"127.0.0.1:" + p, "127.0.0.1", "localhost:" + p, "LOCALHOST.", "admin.example:" + p, "ADMIN.EXAMPLE.", "192.0.2.7:" + p} {
		expect(t, s, 200, "GET", "/v1/tenants", "", "Host", host)
	}
	victimUnchanged(t, b)
}

func TestHostAllowedOnWildcardBind(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Addr: "0.0.0.0:18083", Token: testToken}, newFakeBackend("n1"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"127.0.0.1:18083": true, "0.0.0.0:18083": true, "localhost": true,
		"192.0.2.1:18083": false, "evil.example:18083": false, "": false,
	}
	if ip := nonLoopbackIP(t); ip != "" {
		want[ip+":18083"] = true
	}
	for host, ok := range want {
		if got := s.hostAllowed(host); got != ok {
			t.Errorf("hostAllowed(%q) = %v; want %v", host, got, ok)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:18083", "127.0.0.1:18083", true},
		{"http://LOCALHOST:18083", "localhost:18083", true},
		{"http://localhost", "localhost:80", true},
		{"http://[::1]:18083", "[::1]:18083", true},
		{"http://127.0.0.1:18084", "127.0.0.1:18083", false},
		{"http://evil.example:18083", "127.0.0.1:18083", false},
		{"null", "127.0.0.1:18083", false},
		{"file://", "127.0.0.1:18083", false},
		{"127.0.0.1:18083", "127.0.0.1:18083", false},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Host = tt.host
		if got := sameOrigin(tt.origin, r); got != tt.want {
			t.Errorf("sameOrigin(%q, Host %q) = %v; want %v", tt.origin, tt.host, got, tt.want)
		}
	}
}

func TestConfigValidateTokenAndHosts(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Token: "short"},
		{Token: strings.Repeat("x", MinTokenLength-1)},
		{AllowedHosts: []string{""}},
		{AllowedHosts: []string{"http://admin.example"}},
		{AllowedHosts: []string{"admin.example:18083"}},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", cfg)
		}
	}
	if err := (Config{Token: "short"}).Validate(); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short token: %v; want it to name the minimum", err)
	}
	for _, cfg := range []Config{
		{Token: strings.Repeat("x", MinTokenLength)},
		{AllowedHosts: []string{"admin.example", "10.0.0.1", "fe80::1"}},
	} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", cfg, err)
		}
	}
}

func TestNoLeaderAnswerSaysRetryAfter(t *testing.T) {
	t.Parallel()
	b := newFakeBackend("n1")
	b.setFollowerOf("")
	s, _ := startServer(t, b, Config{})
	req, err := http.NewRequestWithContext(ctxT(t), "POST", "http://"+s.Addr().String()+"/v1/tenants", strings.NewReader(`{"name":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("no leader: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
