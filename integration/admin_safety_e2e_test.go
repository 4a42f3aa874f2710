package integration

// End-to-end tests of the admin API's cross-site protection: what a web
// page in the operator's browser could send to a real `jmqx serve` on
// loopback (no token) is refused and changes nothing, while the CLI
// keeps working.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawAdmin sends one request to a node's admin API as a browser would
// (no token) and returns the status and body. host, when set, replaces the
// Host header; header holds alternating names and values.
func rawAdmin(t *testing.T, n *cliNode, method, path, host, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cliLines runs a CLI command and returns its output's lines.
func cliLines(t *testing.T, server string, args ...string) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(mustCLI(t, server, "", args...)), "\n")
}

func TestAdminRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.start(false)
	mustCLI(t, n.admin, "", "tenant", "create", "victim", "--ws-port", "off", "--json")
	mustCLI(t, n.admin, "p1\n", "user", "add", "victim", "dev", "--password-stdin")
	users, rules := cliLines(t, n.admin, "user", "list", "victim"), cliLines(t, n.admin, "acl", "list", "victim")

	// What any web page can make a browser send without a preflight.
	evil := []string{"Content-Type", "text/plain", "Origin", "http://evil.example"}
	_, port, _ := strings.Cut(n.admin, ":")
	for _, tt := range []struct{ method, path, host, body, rule string }{
		{"POST", "/v1/tenants/victim/users", "", `{"name":"mallory","password":"x"}`, "Origin"},
		{"POST", "/v1/tenants/victim/acl/rules", "", `{"rule":{"action":"allow","access":"all","topic":"#"}}`, "Origin"},
		{"POST", "/v1/cluster/join", "", `{"id":"phantom","raft_addr":"127.0.0.1:1","admin_addr":"127.0.0.1:2"}`, "Origin"},
		{"DELETE", "/v1/tenants/victim", "", "", "Origin"},
		{"GET", "/v1/tenants/victim/users", "evil.example:" + port, "", "Host header"}, // DNS rebinding
		{"GET", "/healthz", "evil.example", "", "Host header"},
	} {
		status, body := rawAdmin(t, n, tt.method, tt.path, tt.host, tt.body, evil...)
		if status != http.StatusForbidden || !strings.Contains(body, tt.rule) {
			t.Errorf("%s %s (Host %q): %d %s; want 403 naming %q", tt.method, tt.path, tt.host, status, body, tt.rule)
		}
	}
	// Without Origin, a text/plain write is still refused.
	if status, body := rawAdmin(t, n, "POST", "/v1/tenants/victim/users", "", `{"name":"m2","password":"x"}`, "Content-Type", "text/plain"); status != http.StatusForbidden || !strings.Contains(body, "application/json") {
		t.Errorf("text/plain POST without Origin: %d %s; want 403 naming application/json", status, body)
	}

	// Nothing changed, and the refusals were logged.
	if got := cliLines(t, n.admin, "user", "list", "victim"); fmt.Sprint(got) != fmt.Sprint(users) {
		t.Errorf("users after the attack: %q; before: %q", got, users)
	}
	if got := cliLines(t, n.admin, "acl", "list", "victim"); fmt.Sprint(got) != fmt.Sprint(rules) {
		t.Errorf("ACL after the attack: %q; before: %q", got, rules)
	}
	if ms, err := clusterMembers(t, n.admin); err != nil || len(ms) != 1 || ms[0].ID != "n1" {
		t.Errorf("members after the attack: %+v, %v; want n1 alone", ms, err)
	}
	if !n.logHas("refused a cross-site admin request") {
		t.Errorf("no refusal in the log:\n%s", n.log())
	}

	// The CLI, and a same-origin JSON request, still work.
	mustCLI(t, n.admin, "", "tenant", "create", "other", "--ws-port", "off", "--json")
	mustCLI(t, n.admin, "p2\n", "user", "add", "victim", "dev2", "--password-stdin")
	if status, body := rawAdmin(t, n, "GET", "/v1/tenants/victim/users", "localhost:"+port, ""); status != http.StatusOK || !strings.Contains(body, "dev2") {
		t.Errorf("GET with Host localhost: %d %s", status, body)
	}
	if status, body := rawAdmin(t, n, "POST", "/v1/tenants/victim/acl/rules", "", `{"rule":{"action":"deny","topic":"x/#"}}`,
		"Content-Type", "application/json", "Origin", "http://"+n.admin); status != http.StatusOK && status != http.StatusCreated {
		t.Errorf("same-origin JSON POST: %d %s", status, body)
	}
}
