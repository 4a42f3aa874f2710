package integration

// End-to-end tests of small things an operator trips on with the real
// jmqx binary: a CLI command right after `jmqx serve &`, tenant names
// starting with '-', tenant create with every listener off, a short token
// and the plain-HTTP warning, usage errors, and the flags a joining node
// ignores.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runJmqx runs the binary with args (no --server added) and returns its
// standard output, standard error and exit code.
func runJmqx(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, jmqxBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("jmqx %s still running after %s\nstderr:\n%s", strings.Join(args, " "), d, errb.String())
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("jmqx %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// Item (a): right after `jmqx serve &`, a client command waits for the
// node to listen and elect a leader instead of failing.
func TestCLIRightAfterServeWaitsForTheNode(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.spawn(false)
	start := time.Now()
	mustCLI(t, n.admin, "", "tenant", "create", "early", "--ws-port", "off", "--json")
	t.Logf("tenant create right after serve succeeded in %v", time.Since(start))
	if _, err := showTenant(t, n.admin, "early"); err != nil {
		t.Fatal(err)
	}

	// With nothing listening, it gives up after --start-wait, saying so.
	_, err := jmqxCLI(t, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "", "tenant", "list", "--start-wait", "500ms")
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "waited") {
		t.Errorf("tenant list against a closed port = %v; want cannot reach, after waiting", err)
	}
}

// Item (b): a tenant name cannot start with '-'; every valid name can be
// created, shown and deleted with the CLI.
func TestCLITenantNames(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.start(false)
	if _, stderr, code := runJmqx(t, 15*time.Second, "tenant", "create", "--server", n.admin, "--", "-lead"); code == 0 || !strings.Contains(stderr, "must not start with '-'") {
		t.Errorf("tenant create -- -lead: exit %d, %s; want refused for its leading '-'", code, stderr)
	}
	status, body := rawAdmin(t, n, "POST", "/v1/tenants", "", `{"name":"-lead"}`, "Content-Type", "application/json")
	if status != http.StatusBadRequest || !strings.Contains(body, "must not start with '-'") {
		t.Errorf("POST /v1/tenants -lead: %d %s; want 400", status, body)
	}
	for _, name := range []string{"0", "a-", "9-x--y"} {
		mustCLI(t, n.admin, "", "tenant", "create", name, "--mqtt-port", "off", "--ws-port", "off", "--json")
		mustCLI(t, n.admin, "", "tenant", "show", name)
		mustCLI(t, n.admin, "", "tenant", "delete", name)
	}
}

// Item (c): tenant create with every listener off returns at once and
// says why nothing is bound.
func TestCLITenantCreateWithListenersOff(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.start(false)
	for _, tt := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--mqtt-port", "off", "--ws-port", "off", "--mqtts-port", "off", "--wss-port", "off"}, "every listener is off"},
		{[]string{"--mqtt-port", "off", "--ws-port", "off"}, "only nodes with a TLS certificate"},
	} {
		start := time.Now()
		out := mustCLI(t, n.admin, "", append([]string{"tenant", "create", fmt.Sprint("quiet-", len(tt.flags))}, tt.flags...)...)
		if d := time.Since(start); d >= 3*time.Second {
			t.Errorf("tenant create %v took %v: it waited for listeners that are off", tt.flags, d)
		}
		if !strings.Contains(out, tt.want) || strings.Contains(out, "no node has bound") {
			t.Errorf("tenant create %v printed %q; want %q", tt.flags, out, tt.want)
		}
	}
}

// Item (d): a token under 16 characters stops serve; the admin API
// beyond loopback over plain HTTP is warned about.
func TestServeTokenLengthAndPlainHTTPWarning(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	_, stderr, code := runJmqx(t, 20*time.Second, "serve", "--data-dir", n.dataDir, "--admin-addr", n.admin,
		"--raft-addr", n.raft, "--mqtt-addr", "127.0.0.1:0", "--ws-addr=", "--token", "short")
	if code == 0 || !strings.Contains(stderr, "--token: 5 characters; at least 16") {
		t.Errorf("serve --token short: exit %d, stderr %q; want a failure naming the minimum", code, stderr)
	}

	_, port, _ := strings.Cut(n.admin, ":")
	token := strings.Repeat("t0k3n", 4)
	n.extra = []string{"--admin-addr", "0.0.0.0:" + port, "--token", token}
	n.start(false)
	if !n.logHas("over plain HTTP") {
		t.Errorf("no plain-HTTP warning for an admin API on 0.0.0.0:\n%s", n.log())
	}
	if _, err := jmqxCLI(t, n.admin, "", "tenant", "list", "--token", token); err != nil {
		t.Errorf("CLI with the token: %v", err)
	}
}

// Item (e): a bad flag or command is an error on stderr, not usage on
// stdout, with exit status 1.
func TestCLIUsageErrorsGoToStderr(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--bogus"}, {"serve", "--bogus"}, {"bogus"}, {"tenant", "list", "--bogus"}} {
		stdout, stderr, code := runJmqx(t, 15*time.Second, args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "--help") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("jmqx %s: exit %d, stdout %q, stderr %q; want exit 1, one line on stderr pointing to --help",
				strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// Item (f): a joining node says which default-tenant flags it ignores.
func TestJoiningNodeWarnsOfIgnoredFlags(t *testing.T) {
	t.Parallel()
	n1 := newCLINode(t, "n1", "")
	n1.start(false)
	n2 := newCLINode(t, "n2", n1.admin)
	n2.extra = []string{"--ws-path", "/other"}
	n2.start(true)
	log := n2.log()
	if !strings.Contains(log, "ignored_flags") || !strings.Contains(log, "--mqtt-addr") || !strings.Contains(log, "--ws-path") {
		t.Errorf("joining node does not warn of --mqtt-addr and --ws-path ignored:\n%s", log)
	}
	if n1.logHas("ignored_flags") {
		t.Errorf("the bootstrapping node warns of ignored flags:\n%s", n1.log())
	}
}
