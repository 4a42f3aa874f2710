package integration

// Browser tests of the web console: headless Chromium, driven by chromedp,
// against real `jmqx serve` processes (a three-node cluster on 127.0.0.1,
// .2 and .3, and a node with an admin token). What a person would do on
// the page, the test does: it types into the forms and clicks the buttons,
// then checks what the page shows, and that it is true outside the page
// (mosquitto_pub reaches the tenant the page created, on the port the page
// shows).
//
// Chromium (Debian package chromium) and mosquitto_pub (mosquitto-clients)
// must be installed; .ci/run installs them. Without them the tests skip,
// except in CI (CI=true), where they fail.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// requireTool returns the path of the first of names found in PATH. When
// none is, the test skips, or fails in CI.
func requireTool(t *testing.T, pkg string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("none of %v is installed, and CI=true: these tests must run in CI (apt-get install -y %s; .ci/run does)", names, pkg)
	}
	t.Skipf("none of %v is installed (apt-get install -y %s); CI runs this test", names, pkg)
	return ""
}

// browser is one headless Chromium tab and what its console said.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// newBrowser starts headless Chromium with a 1280x800 window and records
// its console (console API calls, exceptions, browser log entries).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := requireTool(t, "chromium", "chromium", "chromium-browser", "google-chrome")
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.WindowSize(1280, 800), chromedp.DisableGPU)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // last: waits for the browser process
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // starts the browser and the tab
		cancel()
		t.Fatalf("start %s: %v", path, err)
	}
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
			t.Logf("browser console: %s (%s:%d)", m, m.URL, m.Line)
		}
	}()
	t.Cleanup(func() { <-done })
	t.Cleanup(cancel) // first: closes the tab and ends the console's iterator
	return b
}

// do runs steps within 15 s.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// evalJS evaluates a JavaScript expression in the page, within 10 s.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// awaitJS evaluates a JavaScript expression whose value is a promise, and
// returns what it resolves to, within 10 s.
func awaitJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// crossSiteAttempt opens, in b's tab, a page of another origin (a local
// test server) whose script sends the console's API the writes any web
// page can send without a preflight (a form-like POST and a JSON POST in
// no-cors mode), then returns to console. The API's guard refuses them:
// the caller checks that nothing changed.
func crossSiteAttempt(t *testing.T, b *browser, console string) {
	t.Helper()
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>another site</title><script>
const api = %q;
const spec = JSON.stringify({name: "evil", auth: {allow_anonymous: true}});
Promise.allSettled([
  fetch(api + "v1/tenants", {method: "POST", mode: "no-cors", body: spec}),
  fetch(api + "v1/tenants", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: spec}),
  fetch(api + "v1/tenants", {method: "POST", headers: {"Content-Type": "application/json"}, body: spec}),
]).then(rs => { window.outcome = rs.map(r => r.status).join(","); });
</script>`, console)
	}))
	defer evil.Close()
	b.do(chromedp.Navigate(evil.URL))
	b.waitFor(10*time.Second, "the other site's requests settled", `!!window.outcome`, `String(window.outcome)`)
	// The no-cors requests went out (their answers are opaque); the JSON
	// one needs a preflight the API never grants, so it never left.
	if got := evalJS[string](b, `window.outcome`); got != "fulfilled,fulfilled,rejected" {
		t.Errorf("the other site's fetches: %s, want fulfilled,fulfilled,rejected", got)
	}
	// What the browser logged shows the API's answer to the two that went.
	refused := func() int {
		n := 0
		for _, m := range b.console() {
			if m.Source == "network" && strings.Contains(m.Text, "403") && strings.HasPrefix(m.URL, console) {
				n++
			}
		}
		return n
	}
	eventually(t, 5*time.Second, func() error {
		if n := refused(); n < 2 {
			return fmt.Errorf("the browser logged %d answers 403 from the API to the other site, want 2", n)
		}
		return nil
	})
	b.do(chromedp.Navigate(console))
	b.waitFor(10*time.Second, "the console again", `!!document.querySelector('#members tbody tr')`, `document.body.innerText`)
}

// waitFor waits, polling in the page every 100 ms, until the JavaScript
// expression cond is truthy; after d it fails, showing the value of the
// expression show.
func (b *browser) waitFor(d time.Duration, what, cond, show string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		b.t.Fatalf("%s: not within %v (%v); the page shows: %s", what, d, err, evalJS[string](b, show))
	}
}

// typeInto replaces the value of the input id with what a person types.
func (b *browser) typeInto(id, text string) {
	b.t.Helper()
	evalJS[chromedp.Void](b, fmt.Sprintf(`document.getElementById(%q).value = ''`, id))
	if text != "" {
		b.do(chromedp.SendKeys(chromedp.ID(id), text))
	} else { // a person empties a search field: input event
		evalJS[chromedp.Void](b, fmt.Sprintf(`document.getElementById(%q).dispatchEvent(new Event('input'))`, id))
	}
}

// click clicks the element that the CSS selector sel matches.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// console returns what the page's console received so far.
func (b *browser) console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// consoleErrors returns the console's errors, exceptions and warnings but
// those allow accepts.
func (b *browser) consoleErrors(allow func(chromedp.ConsoleMessage) bool) []string {
	var out []string
	for _, m := range b.console() {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
			if allow == nil || !allow(m) {
				out = append(out, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
			}
		}
	}
	return out
}

// memberRow is a row of the console's members table.
type memberRow struct {
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"`
	Role    string `json:"role"`
	Gossip  string `json:"gossip"`
	Link    string `json:"link"`
}

// membersJS reads the members table as []memberRow.
const membersJS = `[...document.querySelectorAll('#members tbody tr')].map(r => ({
	id: r.dataset.member, healthy: r.dataset.healthy === 'true', role: r.dataset.role,
	gossip: r.dataset.gossip, link: r.dataset.link}))`

// mosquittoPub runs mosquitto_pub against addr with args, within 10 s.
func mosquittoPub(t *testing.T, addr string, args ...string) error {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("MQTT address %q shown by the console: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mosquitto_pub", append([]string{"-h", host, "-p", port}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mosquitto_pub %s: %v: %s", strings.Join(cmd.Args[1:], " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// mosquittoRun starts a mosquitto client (mosquitto_pub or mosquitto_sub)
// against addr that runs until it ends by itself or the test ends.
func mosquittoRun(t *testing.T, addr, tool string, args ...string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("MQTT address %q shown by the console: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, tool, append([]string{"-h", host, "-p", port}, args...)...)
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", tool, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
}

// The console of a three-node cluster, in a real browser: it loads without
// a console error and lists three healthy members; a tenant and a user
// created on the page serve mosquitto_pub on the port the page shows; the
// refusal of a wrong password shows with its meaning; a running publisher
// and subscriber move the tenant's and the node's plots, in and out; the
// tenants table sorts and filters; the API's errors show on the page;
// limits change and a user is removed from the page; a page of another
// origin cannot write through the API; a node killed turns unhealthy, and
// dead in gossip, within the failure-detection time; the tenant is deleted
// from its page.
func TestConsoleBrowserCluster(t *testing.T) {
	requireTool(t, "mosquitto-clients", "mosquitto_pub")
	b := newBrowser(t)
	dc := startDataCluster(t, hostIPs, "seed")
	first := dc.byID[dc.ids[0]]
	url := "http://" + first.admin + "/"

	// Loads, lists three healthy members, no console error.
	b.do(chromedp.Navigate(url))
	b.waitFor(15*time.Second, "three healthy members, all alive in gossip",
		`(() => { const rows = [...document.querySelectorAll('#members tbody tr')];
			return rows.length === 3 && rows.every(r => r.dataset.healthy === 'true' && r.dataset.gossip === 'alive'); })()`,
		`document.querySelector('#members') ? document.querySelector('#members').innerText : document.body.innerText`)
	members := evalJS[[]memberRow](b, membersJS)
	leaders := 0
	for _, m := range members {
		if m.Role == "leader" {
			leaders++
		}
	}
	if len(members) != 3 || leaders != 1 {
		t.Errorf("members on the page: %+v; want 3 with one leader", members)
	}
	if got := evalJS[string](b, `document.querySelector('#members tr[data-member="d1"] .tag')?.textContent || ''`); got != "this node" {
		t.Errorf("d1, whose console is open, is not marked as this node (tag %q)", got)
	}
	b.waitFor(10*time.Second, "the seed tenant in the tenants table",
		`!!document.querySelector('#tenants tr[data-tenant="seed"]')`, `document.querySelector('#tenants').innerText`)

	// Create a tenant and a user from the page.
	b.typeInto("new-tenant-name", "web")
	b.typeInto("new-tenant-mqtt", "auto")
	b.typeInto("new-tenant-ws", "off")
	b.click("#create-tenant-submit")
	b.waitFor(10*time.Second, "the tenant page of web", `location.hash === '#/tenants/web' && !!document.querySelector('#add-user')`,
		`location.hash + ' ' + (document.querySelector('#create-tenant-msg')?.textContent || '')`)
	addrJS := func(node string) string {
		return fmt.Sprintf(`document.querySelector('#tenant-nodes tr[data-node=%q] td[data-listener="mqtt"]')?.textContent || ''`, node)
	}
	for _, id := range dc.ids {
		b.waitFor(15*time.Second, "web's MQTT address on "+id, addrJS(id)+` !== '' && `+addrJS(id)+` !== '–'`,
			`document.querySelector('#tenant-nodes').innerText`)
	}
	const password = "console-pw-1"
	b.typeInto("user-name", "alice")
	b.typeInto("user-password", password)
	b.click("#add-user-submit")
	b.waitFor(10*time.Second, "alice in the users table", `!!document.querySelector('#users tr[data-user="alice"]')`,
		`document.querySelector('#users').innerText + ' / ' + document.querySelector('#user-msg').textContent`)
	if v := evalJS[string](b, `document.getElementById('user-password').value`); v != "" {
		t.Errorf("the password field still holds %q after the user was added", v)
	}
	if body := evalJS[string](b, `document.body.innerText`); strings.Contains(body, password) || strings.Contains(body, "$2a$") {
		t.Errorf("the page shows the password or a hash:\n%s", body)
	}
	if errs := b.consoleErrors(nil); len(errs) > 0 {
		t.Errorf("console errors while loading and creating: %v", errs)
	}

	// mosquitto_pub reaches the tenant on every node, on the port the page
	// shows, as alice; a wrong password is refused, and the page says so.
	addrs := map[string]string{}
	for _, id := range dc.ids {
		addrs[id] = evalJS[string](b, addrJS(id))
		if err := mosquittoPub(t, addrs[id], "-u", "alice", "-P", password, "-t", "console/hello", "-m", "hi", "-q", "1", "-i", "pub-"+id); err != nil {
			t.Errorf("node %s, address %s from the page: %v", id, addrs[id], err)
		}
	}
	if err := mosquittoPub(t, addrs["d1"], "-u", "alice", "-P", "wrong", "-t", "x", "-m", "x"); err == nil {
		t.Errorf("mosquitto_pub with a wrong password was accepted")
	}
	b.waitFor(10*time.Second, "the refusal 0x86 with its meaning",
		`(document.querySelector('#refusals tr[data-reason="0x86"]')?.innerText || '').includes('Bad user name or password')`,
		`document.querySelector('#refusals').innerText`)

	// A running publisher on d1 and a subscriber on d2 move the tenant's
	// message-rate plot, in and out.
	mosquittoRun(t, addrs["d2"], "mosquitto_sub", "-u", "alice", "-P", password, "-t", "console/load", "-i", "sub", "-W", "300")
	b.waitFor(10*time.Second, "the subscriber's session on d2",
		`Number(document.querySelector('#tenant-nodes tr[data-node="d2"] td[data-col="subscriptions"]')?.textContent) === 1`,
		`document.querySelector('#tenant-nodes').innerText`)
	mosquittoRun(t, addrs["d1"], "mosquitto_pub", "-u", "alice", "-P", password, "-t", "console/load", "-m", "tick",
		"-i", "load", "--repeat", "15000", "--repeat-delay", "0.02")
	plotIn := `Number(document.getElementById('plot-tenant-messages')?.dataset.latestIn || 0)`
	plotOut := `Number(document.getElementById('plot-tenant-messages')?.dataset.latestOut || 0)`
	b.waitFor(20*time.Second, "web's message-rate plot at 20 messages/s or more, in and out (50/s sent)",
		plotIn+` >= 20 && `+plotOut+` >= 20`, `document.getElementById('plot-tenant-messages').outerHTML.slice(0, 400)`)
	t.Logf("the tenant's plot shows %.1f messages/s in, %.1f out", evalJS[float64](b, plotIn), evalJS[float64](b, plotOut))
	// A message forwarded from d1 to d2 counts in once, on d1.
	nodeIn := func(id string) string {
		return fmt.Sprintf(`Number(document.querySelector('#tenant-nodes tr[data-node=%q] td[data-col="in"]').textContent)`, id)
	}
	b.waitFor(10*time.Second, "messages in on d1 only", nodeIn("d1")+` >= 20 && `+nodeIn("d2")+` < 5`,
		`document.querySelector('#tenant-nodes').innerText`)
	if n := evalJS[int](b, `document.querySelectorAll('#plot-tenant-messages polyline').length`); n < 2 {
		t.Errorf("the tenant's message plot draws %d lines, want 2 (in and out)", n)
	}

	// The overview: the node's plot moves too, and the table sorts and
	// filters.
	b.click(`a[href="#/"]`)
	b.waitFor(10*time.Second, "d1's message plot above 20 messages/s",
		`Number(document.getElementById('plot-node-messages')?.dataset.latestIn || 0) >= 20`,
		`document.getElementById('plot-node-messages')?.outerHTML.slice(0, 400) || 'no plot'`)
	b.waitFor(10*time.Second, "web's row with an in rate",
		`Number(document.querySelector('#tenants tr[data-tenant="web"] td[data-col="in"]')?.textContent) >= 20`,
		`document.querySelector('#tenants').innerText`)
	tenantOrder := `[...document.querySelectorAll('#tenants tbody tr')].map(r => r.dataset.tenant).join(',')`
	if got := evalJS[string](b, tenantOrder); got != "default,seed,web" {
		t.Errorf("tenants sorted by name: %s", got)
	}
	b.click(`button[data-sort="in"]`) // busiest first
	b.waitFor(5*time.Second, "the tenants sorted by messages in", tenantOrder+` === 'web,default,seed'`, tenantOrder)
	b.typeInto("tenant-filter", "see")
	b.waitFor(5*time.Second, "the filter keeping seed only", tenantOrder+` === 'seed'`, tenantOrder)
	b.typeInto("tenant-filter", "")
	b.waitFor(5*time.Second, "the filter cleared", tenantOrder+` === 'web,default,seed'`, tenantOrder)

	if path := os.Getenv("JMQX_CONSOLE_SCREENSHOT"); path != "" {
		// Half a minute of samples, so that the plots show lines.
		b.waitFor(60*time.Second, "15 samples in the node's plot",
			`Number(document.getElementById('plot-node-messages').dataset.points) >= 15`,
			`document.getElementById('plot-node-messages').dataset.points`)
		b.do(chromedp.EmulateViewport(1280, 800), chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the console written to %s (%d bytes)", path, len(png))
	}
	if errs := b.consoleErrors(nil); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}

	// The API's error shows on the page: the tenant exists already.
	b.typeInto("new-tenant-name", "web")
	b.typeInto("new-tenant-ws", "auto")
	b.click("#create-tenant-submit")
	b.waitFor(10*time.Second, "the API's error for a second tenant web",
		`(document.getElementById('create-tenant-msg').textContent || '').includes('already exists')`,
		`document.getElementById('create-tenant-msg').textContent`)

	// Limits change from the tenant's page, through the API's validation.
	b.do(chromedp.Navigate(url + "#/tenants/web"))
	b.waitFor(10*time.Second, "web's limits form filled", `!!document.querySelector('#users tr[data-user="alice"]') && document.getElementById('limits-form').dataset.revision`,
		`document.body.innerText.slice(0, 600)`)
	b.typeInto("limit-max_connections", "500")
	b.typeInto("limit-max_qos", "3")
	b.click("#limits-submit")
	b.waitFor(10*time.Second, "the API's refusal of max_qos 3", `document.getElementById('limits-msg').textContent.includes('max_qos 3')`,
		`document.getElementById('limits-msg').textContent`)
	b.typeInto("limit-max_qos", "1")
	b.click("#limits-submit")
	b.waitFor(10*time.Second, "the limits saved", `document.getElementById('limits-msg').textContent === 'Limits saved.'`,
		`document.getElementById('limits-msg').textContent`)
	var shown struct {
		Spec struct {
			Limits struct {
				MaxConnections int `json:"max_connections"`
				MaxQoS         int `json:"max_qos"`
			} `json:"limits"`
			Auth struct {
				Users []struct {
					Name string `json:"name"`
				} `json:"users"`
			} `json:"auth"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, dc.byID["d2"].admin, "", "tenant", "show", "web", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if l := shown.Spec.Limits; l.MaxConnections != 500 || l.MaxQoS != 1 || len(shown.Spec.Auth.Users) != 1 {
		t.Errorf("web after the page's changes: %+v; want max_connections 500, max_qos 1, alice kept", shown.Spec)
	}

	// A user removed from the page can no longer connect.
	b.click(`#users button[data-remove="alice"]`)
	b.waitFor(5*time.Second, "the remove button armed", `document.querySelector('#users button[data-remove="alice"]').dataset.armed === 'true'`,
		`document.getElementById('users').outerHTML`)
	b.click(`#users button[data-remove="alice"]`)
	b.waitFor(10*time.Second, "alice gone from the users table", `!document.querySelector('#users tr[data-user="alice"]')`,
		`document.getElementById('users').innerText + ' / ' + document.getElementById('user-msg').textContent`)
	eventually(t, 10*time.Second, func() error {
		if err := mosquittoPub(t, addrs["d3"], "-u", "alice", "-P", password, "-t", "x", "-m", "x"); err == nil {
			return errors.New("alice, removed, still connects to d3")
		}
		return nil
	})

	// The console's CSP keeps its own scripts to its origin.
	if got := awaitJS[string](b, fmt.Sprintf(`fetch(%q).then(() => 'sent', () => 'blocked')`,
		strings.Replace(url, "127.0.0.1", "localhost", 1)+"v1/tenants")); got != "blocked" {
		t.Errorf("the console page could fetch another origin: %s", got)
	}
	// A page of another origin cannot write through the API: the
	// cross-site guard refuses what the browser sends it.
	crossSiteAttempt(t, b, url)

	// A node killed turns unhealthy, then dead in gossip.
	victim := dc.byID["d3"]
	killAt := time.Now()
	_ = victim.stop(syscall.SIGKILL)
	b.waitFor(10*time.Second, "d3 unhealthy", `document.querySelector('#members tr[data-member="d3"]')?.dataset.healthy === 'false'`,
		`document.querySelector('#members').innerText`)
	unhealthy := time.Since(killAt)
	b.waitFor(20*time.Second, "d3 dead in gossip", `document.querySelector('#members tr[data-member="d3"]')?.dataset.gossip === 'dead'`,
		`document.querySelector('#members').innerText`)
	t.Logf("d3 SIGKILLed: unhealthy on the page after %v, dead in gossip after %v",
		unhealthy.Round(time.Millisecond), time.Since(killAt).Round(time.Millisecond))
	if got := evalJS[string](b, `document.querySelector('#members tr[data-member="d1"]').dataset.healthy`); got != "true" {
		t.Errorf("d1 healthy = %s after d3 was killed", got)
	}

	names, err := tenantNames(t, first.admin)
	if err != nil {
		t.Fatal(err)
	}
	if names["evil"] || !names["seed"] {
		t.Errorf("tenants after another origin's writes: %v (want seed, not evil)", names)
	}

	// Delete the tenant from its page.
	b.do(chromedp.Navigate(url + "#/tenants/web"))
	b.waitFor(10*time.Second, "web's page", `!!document.querySelector('#tenant-nodes tbody tr')`, `document.body.innerText`)
	b.click("#delete-tenant")
	b.waitFor(5*time.Second, "the delete button armed", `document.getElementById('delete-tenant').dataset.armed === 'true'`,
		`document.getElementById('delete-tenant').outerHTML`)
	b.click("#delete-tenant")
	b.waitFor(10*time.Second, "back on the overview without web",
		`location.hash === '#/' && !!document.querySelector('#tenants tr[data-tenant="seed"]') && !document.querySelector('#tenants tr[data-tenant="web"]')`,
		`location.hash + ' ' + document.body.innerText.slice(0, 600)`)

	for _, m := range b.console() {
		if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError && m.Source == "" {
			t.Errorf("console: %s (%s:%d)", m, m.URL, m.Line)
		}
	}
}

// A three-node cluster with an admin token: the page shows no figure
// without it, says a wrong token is wrong, shows the figures with the right
// one, and keeps it for the tab only (sessionStorage: not a cookie, not the
// URL).
func TestConsoleBrowserToken(t *testing.T) {
	b := newBrowser(t)
	const token = "console-browser-token-0123456789"
	t.Setenv("JMQX_TOKEN", token) // the nodes' --token, and the CLI's
	dc := startDataCluster(t, hostIPs, "seed")
	url := "http://" + dc.byID[dc.ids[1]].admin + "/" // a follower's console, at 127.0.0.2

	b.do(chromedp.Navigate(url))
	b.waitFor(10*time.Second, "the token prompt", `!document.getElementById('login').hidden`, `document.body.innerText`)
	noData := `document.getElementById('main').hidden && document.querySelectorAll('#main *').length === 0`
	if !evalJS[bool](b, noData) {
		t.Errorf("the page shows figures without the token: %s", evalJS[string](b, `document.getElementById('main').innerText`))
	}

	b.typeInto("token", "wrong-token-0123456789abcdef")
	b.click(`#login-form button[type="submit"]`)
	b.waitFor(10*time.Second, "the wrong-token message", `document.getElementById('login-msg').textContent.startsWith('Wrong token')`,
		`document.getElementById('login-msg').textContent`)
	if !evalJS[bool](b, noData) {
		t.Errorf("the page shows figures after a wrong token")
	}

	b.typeInto("token", token)
	b.click(`#login-form button[type="submit"]`)
	b.waitFor(10*time.Second, "three healthy members",
		`document.querySelectorAll('#members tr[data-healthy="true"]').length === 3 && document.getElementById('login').hidden`,
		`document.body.innerText`)
	b.waitFor(10*time.Second, "the seed tenant", `!!document.querySelector('#tenants tr[data-tenant="seed"]')`, `document.body.innerText`)
	where := evalJS[[]string](b, `[sessionStorage.getItem('jmqx-admin-token') || '', document.cookie, location.href, localStorage.length + '']`)
	if where[0] != token || where[1] != "" || strings.Contains(where[2], token) || where[3] != "0" {
		t.Errorf("token kept as sessionStorage %q, cookie %q, URL %q, localStorage entries %s; want sessionStorage only",
			where[0], where[1], where[2], where[3])
	}

	// A reload of the tab keeps the token; "Forget token" drops it.
	b.do(chromedp.Navigate(url))
	b.waitFor(10*time.Second, "d2 listed after a reload", `!!document.querySelector('#members tr[data-member="d2"]')`, `document.body.innerText`)
	b.click("#forget-token")
	b.waitFor(5*time.Second, "the prompt after forgetting the token", `!document.getElementById('login').hidden && `+noData,
		`document.body.innerText`)
	if got := evalJS[string](b, `sessionStorage.getItem('jmqx-admin-token') || ''`); got != "" {
		t.Errorf("the token is still in sessionStorage after Forget token")
	}

	// The only errors are the browser's log of the API's 401 answers.
	if errs := b.consoleErrors(func(m chromedp.ConsoleMessage) bool {
		return m.Source == "network" && strings.Contains(m.Text, "401")
	}); len(errs) > 0 {
		t.Errorf("console errors: %v", errs)
	}
	if !slices.ContainsFunc(b.console(), func(m chromedp.ConsoleMessage) bool { return strings.Contains(m.Text, "401") }) {
		t.Logf("the browser logged no 401 (the API answered the page without one?)")
	}
}
