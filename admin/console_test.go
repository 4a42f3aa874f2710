package admin

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// consoleRefs returns the console files that index.html and the scripts
// load: src and href attributes under /console/, and module imports.
func consoleRefs(t *testing.T, s *Server) []string {
	t.Helper()
	refs := map[string]bool{}
	attr := regexp.MustCompile(`(?:src|href)="(/console/[^"]+)"`)
	imp := regexp.MustCompile(`from "\./([^"]+)"`)
	for name, a := range s.console {
		for _, m := range attr.FindAllStringSubmatch(string(a.body), -1) {
			refs[m[1]] = true
		}
		for _, m := range imp.FindAllStringSubmatch(string(a.body), -1) {
			refs["/console/"+m[1]] = true
		}
		if strings.HasSuffix(name, ".js") {
			refs["/console/"+name] = true
		}
	}
	var out []string
	for r := range refs {
		out = append(out, r)
	}
	return out
}

func TestConsoleServed(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, newFakeBackend("n1"), Config{})

	resp, body := send(t, s, "GET", "/", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<script type="module" src="/console/app.js"></script>`) {
		t.Fatalf("GET / = %d\n%s", resp.StatusCode, body)
	}
	wantHeaders := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": consoleCSP,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-cache",
	}
	for k, v := range wantHeaders {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("GET / %s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(consoleCSP, "script-src 'self'") || strings.Contains(consoleCSP, "unsafe") {
		t.Errorf("the CSP allows more than the page's own scripts: %s", consoleCSP)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("GET / has no ETag")
	}
	if r, b := send(t, s, "GET", "/", "", "If-None-Match", etag); r.StatusCode != http.StatusNotModified || b != "" {
		t.Errorf("GET / If-None-Match its ETag = %d %q, want 304 without a body", r.StatusCode, b)
	}
	if r, b := send(t, s, "HEAD", "/", ""); r.StatusCode != 200 || b != "" || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD / = %d %q %v", r.StatusCode, b, r.Header)
	}

	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	refs := consoleRefs(t, s)
	if len(refs) < 5 {
		t.Fatalf("the console loads only %v", refs)
	}
	for _, ref := range refs {
		r, b := send(t, s, "GET", ref, "")
		ext := ref[strings.LastIndex(ref, "."):]
		if r.StatusCode != 200 || len(b) == 0 || r.Header.Get("Content-Type") != types[ext] ||
			r.Header.Get("Content-Security-Policy") != consoleCSP || r.Header.Get("ETag") == "" {
			t.Errorf("GET %s = %d, %d bytes, headers %v", ref, r.StatusCode, len(b), r.Header)
		}
	}
}

// The page runs only its own files: no inline script or style, no
// handler attribute, and the scripts never turn text into markup or code.
func TestConsoleHasNoInlineCode(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, newFakeBackend("n1"), Config{})
	index := string(s.console["index.html"].body)
	for _, m := range regexp.MustCompile(`<script[^>]*>[^<]*</script>`).FindAllString(index, -1) {
		if !strings.Contains(m, ` src="/console/`) || !strings.HasSuffix(m, "></script>") {
			t.Errorf("index.html has an inline script: %q", m)
		}
	}
	if n := strings.Count(index, "<script"); n != 1 {
		t.Errorf("index.html has %d scripts, want 1 (app.js)", n)
	}
	for _, re := range []string{`\son[a-z]+\s*=`, `\sstyle\s*=`, `<style`} {
		if m := regexp.MustCompile(re).FindString(index); m != "" {
			t.Errorf("index.html has inline code or style: %q", m)
		}
	}
	for name, a := range s.console {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, bad := range []string{"innerHTML", "outerHTML =", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "document.cookie"} {
			if strings.Contains(string(a.body), bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}

// The console's files need no token (the page asks for it); everything
// else still does, and the Host rule still applies to the page.
func TestConsoleAccess(t *testing.T) {
	t.Parallel()
	const token = "console-test-token-0123456789"
	s, _ := startServer(t, newFakeBackend("n1"), Config{Token: token})

	for _, path := range []string{"/", "/console/app.js", "/console/app.css"} {
		if r, _ := send(t, s, "GET", path, ""); r.StatusCode != 200 {
			t.Errorf("GET %s without the token = %d, want 200", path, r.StatusCode)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/tenants"}, {"GET", "/v1/cluster/members"}, {"GET", "/nope"}, {"POST", "/"}, {"DELETE", "/console/app.js"},
	} {
		if r, b := send(t, s, c.method, c.path, "", "Content-Type", "application/json"); r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(b, `{"error":`) {
			t.Errorf("%s %s without the token = %d %s, want 401", c.method, c.path, r.StatusCode, b)
		}
	}
	if r, _ := send(t, s, "GET", "/v1/tenants", "", "Authorization", "Bearer "+token); r.StatusCode != 200 {
		t.Errorf("GET /v1/tenants with the token = %d", r.StatusCode)
	}
	for _, host := range []string{"attacker.example", "attacker.example:80"} {
		if r, b := send(t, s, "GET", "/", "", "Host", host); r.StatusCode != http.StatusForbidden || strings.Contains(b, "<html") {
			t.Errorf("GET / with Host %s = %d, want 403 without the page", host, r.StatusCode)
		}
	}
	if r, _ := send(t, s, "GET", "/", "", "Host", "localhost"); r.StatusCode != 200 {
		t.Errorf("GET / with Host localhost = %d", r.StatusCode)
	}
}

// Paths the console does not have answer the API's JSON errors.
func TestConsoleNotFound(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, newFakeBackend("n1"), Config{})
	expect(t, s, 404, "GET", "/console/nope.js", "")
	expect(t, s, 404, "GET", "/console/index.html", "") // the page is at / only
	expect(t, s, 404, "GET", "/console/", "")
	if got := expect(t, s, 404, "GET", "/index.html", ""); !strings.Contains(got, "no such API route") {
		t.Errorf("GET /index.html: %s", got)
	}
	if got := expect(t, s, 405, "POST", "/", "{}"); !strings.Contains(got, "use GET") {
		t.Errorf("POST /: %s", got)
	}
}

// GET /v1/cluster/members marks the answering node "self".
func TestMembersMarkSelf(t *testing.T) {
	t.Parallel()
	b := newFakeBackend("n1")
	b.members = append(b.members, MemberView{ID: "n2", Role: "follower"})
	s, _ := startServer(t, b, Config{})
	var ms []map[string]any
	if err := json.Unmarshal([]byte(expect(t, s, 200, "GET", "/v1/cluster/members", "")), &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0]["self"] != true || ms[1]["self"] != nil {
		t.Errorf("members = %v; want n1 with \"self\": true, n2 without", ms)
	}
	if b.members[0].Self {
		t.Errorf("the handler changed the Backend's members")
	}
}
