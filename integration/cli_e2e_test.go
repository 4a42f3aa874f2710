package integration

// End-to-end tests of the jmqx binary: the real `jmqx serve` nodes run as
// subprocesses and are driven by the real CLI (tenant, user, cluster
// commands), MQTT 5 clients connecting to the listeners the nodes report.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

var (
	jmqxBuildOnce sync.Once
	jmqxBinPath   string
	jmqxBuildErr  error
)

// jmqxBinary builds ./cmd/jmqx once per test binary and returns its path.
func jmqxBinary(t *testing.T) string {
	t.Helper()
	jmqxBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jmqx-e2e-bin-")
		if err != nil {
			jmqxBuildErr = err
			return
		}
		bin := filepath.Join(dir, "jmqx")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/jmqx")
		cmd.Dir = ".." // the module root: tests run in integration/
		if out, err := cmd.CombinedOutput(); err != nil {
			jmqxBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		jmqxBinPath = bin
	})
	if jmqxBuildErr != nil {
		t.Fatal(jmqxBuildErr)
	}
	return jmqxBinPath
}

// cliNode is one `jmqx serve` subprocess and what it needs to restart.
type cliNode struct {
	t       *testing.T
	id      string
	dataDir string
	admin   string
	raft    string
	join    string
	logPath string
	extra   []string // more serve flags
	// ip is the address of the node's "machine" (--bind-host,
	// --advertise-host); default 127.0.0.1. mqtt is its --mqtt-addr;
	// default port 0 on ip.
	ip, mqtt string

	cmd  *exec.Cmd
	done chan error // Wait's result, once
}

func newCLINode(t *testing.T, id, join string) *cliNode {
	t.Helper()
	dir := t.TempDir()
	return &cliNode{
		t:       t,
		id:      id,
		dataDir: filepath.Join(dir, "data"),
		admin:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		raft:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		join:    join,
		logPath: filepath.Join(dir, "node.log"),
	}
}

// start runs the node (with --join only if join is set) and waits for
// /readyz.
func (n *cliNode) start(join bool) {
	n.t.Helper()
	n.spawn(join)
	n.waitReady(20 * time.Second)
}

// spawn runs the node like start but returns at once, without waiting for
// it to be ready.
func (n *cliNode) spawn(join bool) {
	n.t.Helper()
	extra := []string{"--node-id", n.id}
	if join && n.join != "" {
		extra = append(extra, "--join", n.join)
	}
	n.cmd, n.done = launch(n.t, n.logPath, serveArgs(n, n.dataDir, extra...))
}

// serveArgs are the `jmqx serve` flags of n on dataDir, then n.extra and
// extra (a flag given twice: the last wins).
func serveArgs(n *cliNode, dataDir string, extra ...string) []string {
	ip, mqtt := n.ip, n.mqtt
	if ip == "" {
		ip = "127.0.0.1"
	}
	if mqtt == "" {
		mqtt = net.JoinHostPort(ip, "0")
	}
	args := []string{"serve", "--data-dir", dataDir, "--admin-addr", n.admin, "--raft-addr", n.raft,
		"--mqtt-addr", mqtt, "--ws-addr=", "--bind-host", ip, "--advertise-host", ip,
		"--gossip-addr", net.JoinHostPort(ip, "0"), "--cluster-addr", net.JoinHostPort(ip, "0"),
		"--port-range", "10000-14999", // below the ephemeral range: a restarted node finds its ports free
		"--log-format", "json"}
	return append(append(args, n.extra...), extra...)
}

// launch runs `jmqx` with args in its own process group, its output
// appended to logPath; done gets Wait's result (put it back after taking
// it: the cleanup, which kills the group, takes it too).
func launch(t *testing.T, logPath string, args []string) (cmd *exec.Cmd, done chan error) {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child holds its own copy
	cmd = exec.Command(jmqxBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		done <- <-done
	})
	return cmd, done
}

func (n *cliNode) waitReady(d time.Duration) {
	t := n.t
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-n.done:
			n.done <- err
			t.Fatalf("node %s exited before ready: %v\n%s", n.id, err, n.log())
		default:
		}
		resp, err := client.Get("http://" + n.admin + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("node %s not ready within %s (last: %s)\n%s", n.id, d, last, n.log())
}

// stop sends sig to the node's process group and returns Wait's result.
func (n *cliNode) stop(sig syscall.Signal) error {
	t := n.t
	t.Helper()
	_ = syscall.Kill(-n.cmd.Process.Pid, sig)
	select {
	case err := <-n.done:
		n.done <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("node %s did not exit on %v\n%s", n.id, sig, n.log())
		return nil
	}
}

// logHas reports whether the node's whole log (every start) contains s.
func (n *cliNode) logHas(s string) bool {
	b, _ := os.ReadFile(n.logPath)
	return strings.Contains(string(b), s)
}

// log returns the end of the node's log, for failure messages.
func (n *cliNode) log() string {
	b, _ := os.ReadFile(n.logPath)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// jmqxCLI runs a client command against server and returns its standard
// output; err carries standard error.
func jmqxCLI(t *testing.T, server, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, jmqxBinary(t), append(args, "--server", server)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("jmqx %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func mustCLI(t *testing.T, server, stdin string, args ...string) string {
	t.Helper()
	out, err := jmqxCLI(t, server, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type cliTenantView struct {
	Name  string `json:"name"`
	Nodes []struct {
		Node      string            `json:"node"`
		Listeners map[string]string `json:"listeners"`
	} `json:"nodes"`
}

type cliMember struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	RaftAddr  string `json:"raft_addr"`
	AdminAddr string `json:"admin_addr"`
	Voter     bool   `json:"voter"`
	Healthy   bool   `json:"healthy"`
}

// showTenant runs `tenant show NAME --json`.
func showTenant(t *testing.T, server, name string) (cliTenantView, error) {
	t.Helper()
	var v cliTenantView
	out, err := jmqxCLI(t, server, "", "tenant", "show", name, "--json")
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return v, fmt.Errorf("decoding %q: %v", out, err)
	}
	return v, nil
}

// waitTenantMQTT polls `tenant show` until nodes nodes report an mqtt
// listener and returns node → address.
func waitTenantMQTT(t *testing.T, server, name string, nodes int, d time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for {
		v, err := showTenant(t, server, name)
		if err == nil {
			addrs := map[string]string{}
			for _, n := range v.Nodes {
				if a := n.Listeners["mqtt"]; a != "" {
					addrs[n.Node] = a
				}
			}
			if len(addrs) == nodes {
				return addrs
			}
			last = fmt.Sprintf("%+v", v)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s: not %d nodes with mqtt within %s; last: %s", name, nodes, d, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func clusterMembers(t *testing.T, server string) ([]cliMember, error) {
	t.Helper()
	out, err := jmqxCLI(t, server, "", "cluster", "members", "--json")
	if err != nil {
		return nil, err
	}
	var ms []cliMember
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, fmt.Errorf("decoding %q: %v", out, err)
	}
	return ms, nil
}

func tenantNames(t *testing.T, server string) (map[string]bool, error) {
	t.Helper()
	out, err := jmqxCLI(t, server, "", "tenant", "list", "--json")
	if err != nil {
		return nil, err
	}
	var vs []cliTenantView
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("decoding %q: %v", out, err)
	}
	names := map[string]bool{}
	for _, v := range vs {
		names[v.Name] = true
	}
	return names, nil
}

// closeV5 disconnects c normally and waits for it to finish.
func closeV5(c *v5Client) {
	_ = c.Disconnect(&paho.Disconnect{})
	<-c.Done()
}

// eventuallyConnect retries a v5 CONNECT until it is accepted.
func eventuallyConnect(t *testing.T, addr, clientID string, opts ...v5Option) *v5Client {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c, err := connectV5(t, &node{addr: addr}, clientID, opts...)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s to %s: %v", clientID, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventuallyRefused retries a v5 CONNECT until it gets CONNACK code.
func eventuallyRefused(t *testing.T, addr, clientID string, code byte, opts ...v5Option) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c, err := connectV5(t, &node{addr: addr}, clientID, opts...)
		if err != nil && c.connack != nil && c.connack.ReasonCode == code {
			return
		}
		var got string
		if err == nil {
			got = "accepted"
			closeV5(c)
		} else if c.connack != nil {
			got = fmt.Sprintf("reason 0x%02x", c.connack.ReasonCode)
		} else {
			got = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s to %s: want refusal 0x%02x, got %s", clientID, addr, code, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCLISingleNode(t *testing.T) {
	n := newCLINode(t, "n1", "")
	n.start(false)
	srv := n.admin

	mustCLI(t, srv, "", "tenant", "create", "acme", "--mqtt-port", "auto", "--ws-port", "off", "--json")
	mustCLI(t, srv, "p1\n", "user", "add", "acme", "dev", "--password-stdin")
	addr := waitTenantMQTT(t, srv, "acme", 1, 10*time.Second)["n1"]
	if def, err := showTenant(t, srv, "default"); err == nil {
		t.Logf("default tenant before restart: %+v", def.Nodes)
	}
	if addr == "" {
		t.Fatalf("no mqtt address of n1 for acme")
	}

	// Not anonymous.
	eventuallyRefused(t, addr, "anon", 0x86)
	c1 := eventuallyConnect(t, addr, "c1", credentials("dev", "p1"))

	// Rotate: the old and the new password both work.
	mustCLI(t, srv, "p2\n", "user", "rotate", "acme", "dev", "--password-stdin")
	c2 := eventuallyConnect(t, addr, "c2", credentials("dev", "p2"))
	eventuallyConnect(t, addr, "c1b", credentials("dev", "p1"))

	// Finish the rotation (--revoke-old alone): p1's live client is cut
	// off and p1 refused; p2's client stays.
	mustCLI(t, srv, "", "user", "rotate", "acme", "dev", "--revoke-old")
	if d := c1.expectServerDisconnect(); d.ReasonCode != 0x87 {
		t.Errorf("c1 (p1) after revoke: DISCONNECT 0x%02x, want 0x87", d.ReasonCode)
	}
	eventuallyRefused(t, addr, "c1c", 0x86, credentials("dev", "p1"))
	eventuallyConnect(t, addr, "c2b", credentials("dev", "p2"))
	select {
	case d := <-c2.disconnects:
		t.Fatalf("c2 (p2, kept) was disconnected: 0x%02x", d.ReasonCode)
	default:
	}

	// Rotate and revoke at once: p2 is replaced by p3.
	mustCLI(t, srv, "p3\n", "user", "rotate", "acme", "dev", "--password-stdin", "--revoke-old")
	if d := c2.expectServerDisconnect(); d.ReasonCode != 0x87 {
		t.Errorf("c2 (p2) after revoke: DISCONNECT 0x%02x, want 0x87", d.ReasonCode)
	}
	eventuallyRefused(t, addr, "c2c", 0x86, credentials("dev", "p2"))
	c3 := eventuallyConnect(t, addr, "c3", credentials("dev", "p3"))

	// Remove: the live p3 client is cut off.
	mustCLI(t, srv, "", "user", "remove", "acme", "dev")
	if d := c3.expectServerDisconnect(); d.ReasonCode != 0x87 {
		t.Errorf("c3 after user remove: DISCONNECT 0x%02x, want 0x87", d.ReasonCode)
	}
	eventuallyRefused(t, addr, "c3b", 0x86, credentials("dev", "p3"))

	// SIGTERM: a clean exit; the tenant survives on the same port.
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, n.log())
	}
	start := time.Now()
	n.start(false)
	after := waitTenantMQTT(t, srv, "acme", 1, 10*time.Second)["n1"]
	if after != addr {
		t.Fatalf("acme's auto port moved across a restart: %s -> %s", addr, after)
	}
	eventuallyRefused(t, addr, "anon1", 0x86) // served there, with its credentials
	t.Logf("restart after SIGTERM: acme served again in %v", time.Since(start))

	// SIGKILL: likewise.
	_ = n.stop(syscall.SIGKILL)
	start = time.Now()
	n.start(false)
	after = waitTenantMQTT(t, srv, "acme", 1, 10*time.Second)["n1"]
	if after != addr {
		t.Fatalf("acme's auto port moved across a kill -9 restart: %s -> %s", addr, after)
	}
	t.Logf("restart after SIGKILL: acme served again in %v", time.Since(start))
	eventuallyRefused(t, addr, "anon2", 0x86)
}

func TestCLIThreeNodeCluster(t *testing.T) {
	n1 := newCLINode(t, "n1", "")
	n2 := newCLINode(t, "n2", n1.admin)
	n3 := newCLINode(t, "n3", n1.admin)
	nodes := map[string]*cliNode{"n1": n1, "n2": n2, "n3": n3}
	// Snapshot and compact the log often, so that a node that was down
	// catches up from a snapshot.
	for _, n := range nodes {
		n.extra = []string{"--raft-snapshot-threshold", "16", "--raft-snapshot-interval", "50ms", "--raft-trailing-logs", "4"}
	}

	n1.start(false)

	// A port every node finds busy.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := busy.Addr().String()
	busyPort := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	mustCLI(t, n1.admin, "", "tenant", "create", "fixed", "--mqtt-port", busyPort, "--ws-port", "off", "--allow-anonymous", "--json")

	n2.start(true)
	n3.start(true)

	deadline := time.Now().Add(15 * time.Second)
	for {
		ms, err := clusterMembers(t, n1.admin)
		leaders := 0
		for _, m := range ms {
			if m.Role == "leader" {
				leaders++
			}
		}
		if err == nil && len(ms) == 3 && leaders == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster members: %+v, %v", ms, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A tenant created through a follower's admin API is served by all.
	start := time.Now()
	mustCLI(t, n3.admin, "", "tenant", "create", "t3", "--allow-anonymous", "--ws-port", "off", "--json")
	addrs := waitTenantMQTT(t, n3.admin, "t3", 3, 5*time.Second)
	t.Logf("tenant created via n3 listed with mqtt on 3 nodes in %v", time.Since(start))
	for id, a := range addrs {
		c := eventuallyConnect(t, a, "t3-"+id)
		closeV5(c)
	}
	t.Logf("tenant created via n3 served (connectable) by all 3 nodes in %v", time.Since(start))

	// The busy port: every node moved elsewhere.
	for id, a := range waitTenantMQTT(t, n1.admin, "fixed", 3, 10*time.Second) {
		if a == busyAddr || strings.HasSuffix(a, ":"+busyPort) {
			t.Errorf("node %s reports the busy port %s for fixed", id, a)
		}
		c := eventuallyConnect(t, a, "fixed-"+id)
		closeV5(c)
	}

	// Kill the leader; writes resume through a survivor.
	ms, err := clusterMembers(t, n1.admin)
	if err != nil {
		t.Fatal(err)
	}
	var leader *cliNode
	for _, m := range ms {
		if m.Role == "leader" {
			leader = nodes[m.ID]
		}
	}
	if leader == nil {
		t.Fatalf("no known leader in %+v", ms)
	}
	var survivors []*cliNode
	for _, id := range []string{"n1", "n2", "n3"} {
		if nodes[id] != leader {
			survivors = append(survivors, nodes[id])
		}
	}
	_ = leader.stop(syscall.SIGKILL)
	killed := time.Now()
	for {
		_, err := jmqxCLI(t, survivors[0].admin, "", "tenant", "create", "after-failover", "--allow-anonymous", "--ws-port", "off", "--json")
		if err == nil {
			break
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("leader %s killed: create still failing after 5s: %v", leader.id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("leader %s SIGKILLed: write acknowledged via %s after %v", leader.id, survivors[0].id, time.Since(killed))

	for _, s := range survivors {
		deadline := time.Now().Add(5 * time.Second)
		for {
			names, err := tenantNames(t, s.admin)
			missing := []string{}
			for _, want := range []string{"default", "fixed", "t3", "after-failover"} {
				if !names[want] {
					missing = append(missing, want)
				}
			}
			if err == nil && len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tenant list via %s: missing %v (err %v)", s.id, missing, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// While it is down, enough writes that the survivors compact their
	// logs past what it has.
	for i := range 12 {
		mustCLI(t, survivors[0].admin, "", "tenant", "create", fmt.Sprint("bulk-", i), "--allow-anonymous", "--ws-port", "off", "--json")
	}

	// The killed node comes back from its data dir and catches up, from a
	// snapshot.
	start = time.Now()
	leader.start(false)
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err1 := showTenant(t, leader.admin, "after-failover")
		_, err2 := showTenant(t, leader.admin, "bulk-11")
		if err1 == nil && err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted %s: tenants not shown: %v, %v\n%s", leader.id, err1, err2, leader.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("restarted %s shows after-failover and bulk-11 %v after start", leader.id, time.Since(start))
	if !leader.logHas("Installed remote snapshot") {
		t.Errorf("restarted %s caught up without a snapshot:\n%s", leader.id, leader.log())
	}
	addrs = waitTenantMQTT(t, leader.admin, "bulk-11", 3, 10*time.Second)
	closeV5(eventuallyConnect(t, addrs[leader.id], "bulk-on-"+leader.id))

	// cluster remove: the restarted node leaves the voters.
	mustCLI(t, survivors[0].admin, "", "cluster", "remove", leader.id)
	deadline = time.Now().Add(5 * time.Second)
	for {
		ms, err := clusterMembers(t, survivors[0].admin)
		if err == nil && len(ms) == 2 && ms[0].ID != leader.id && ms[1].ID != leader.id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after cluster remove %s: %+v, %v", leader.id, ms, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
