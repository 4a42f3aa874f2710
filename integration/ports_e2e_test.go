package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 10, item 2: a port another tenant configured, or one the node uses
// itself, is refused at create with a clear error and a non-zero exit;
// auto listeners beyond the port range are refused too, never a silent
// success that can never bind.
func TestCLIPortsOwned(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.extra = []string{"--port-range", "15100-15103"} // four ports: the default tenant takes one
	n.start(false)
	srv := n.admin
	port := freePort(t)

	mustCLI(t, srv, "", "tenant", "create", "first", "--mqtt-port", fmt.Sprint(port), "--ws-port", "off")
	out, err := jmqxCLI(t, srv, "", "tenant", "create", "second", "--mqtt-port", fmt.Sprint(port), "--ws-port", "off")
	if err == nil || !strings.Contains(err.Error(), `configured by tenant "first"`) {
		t.Fatalf("a second tenant on tenant first's port: %v (output %q), want a refusal naming it", err, out)
	}
	_, adminPort, _ := strings.Cut(n.admin, ":")
	if _, err := jmqxCLI(t, srv, "", "tenant", "create", "third", "--mqtt-port", adminPort, "--ws-port", "off"); err == nil ||
		!strings.Contains(err.Error(), "admin API") {
		t.Fatalf("a tenant on the node's admin port: %v, want a refusal naming the admin API", err)
	}
	for i := 1; i <= 3; i++ { // the range holds three auto listeners
		mustCLI(t, srv, "", "tenant", "create", fmt.Sprintf("auto%d", i), "--mqtt-port", "auto", "--ws-port", "off")
	}
	if _, err := jmqxCLI(t, srv, "", "tenant", "create", "auto4", "--mqtt-port", "auto", "--ws-port", "off"); err == nil ||
		!strings.Contains(err.Error(), "range") {
		t.Fatalf("a fourth auto listener in a range of three: %v, want a refusal", err)
	}
	if names, err := tenantNames(t, srv); err != nil || names["second"] || names["third"] || names["auto4"] {
		t.Fatalf("refused tenants exist: %v (%v)", names, err)
	}
}

// Issue 10, item 8: a tenant the node cannot serve (MQTTS on a node
// without TLS material: a valid spec) is reported failed for that node in
// tenant status and tenant show, and the node starts and serves the
// others, also after a restart.
func TestCLITenantNodeCannotServe(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.start(false)
	srv := n.admin
	mustCLI(t, srv, "", "tenant", "create", "plain", "--mqtt-port", "auto", "--ws-port", "off", "--allow-anonymous")
	mustCLI(t, srv, "", "tenant", "create", "secure", "--mqtt-port", "off", "--ws-port", "off", "--mqtts-port", "auto")
	waitFailed(t, srv, "secure")

	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Logf("stop: %v", err)
	}
	n.start(false) // used to fail: one tenant it cannot serve stopped the node
	waitFailed(t, srv, "secure")
	addr := waitTenantMQTT(t, srv, "plain", 1, 10*time.Second)["n1"]
	c := eventuallyConnect(t, addr, "still-served")
	closeV5(c)
	if out := mustCLI(t, srv, "", "tenant", "show", "secure"); !strings.Contains(out, "n1 cannot serve it") {
		t.Fatalf("tenant show secure:\n%s\nwant n1's failure", out)
	}
}

// waitFailed waits until tenant status reports node n1's failure to serve
// tenant name.
func waitFailed(t *testing.T, srv, name string) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		out, err := jmqxCLI(t, srv, "", "tenant", "status", name, "--json")
		if err != nil {
			return err
		}
		var st []struct {
			Node  string `json:"node"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return fmt.Errorf("decoding %q: %v", out, err)
		}
		for _, s := range st {
			if s.Node == "n1" && s.Error != "" {
				return nil
			}
		}
		return fmt.Errorf("tenant status %s: %s, want n1's failure", name, out)
	})
}
