package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/node"
	"github.com/jmqx/jmqx/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait on a condition in these tests.
const waitTimeout = 10 * time.Second

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a jmqx command started in process.
type running struct {
	cancel context.CancelFunc
	done   chan error
	ready  chan net.Addr
	logs   *syncBuffer
}

// start runs "jmqx ARGS..." in a goroutine with its own context.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), ready: make(chan net.Addr, 1), logs: &syncBuffer{}}
	app := newApp(appEnv{stdout: io.Discard, stderr: r.logs, ready: func(a net.Addr) { r.ready <- a }})
	if len(args) > 0 && args[0] == "serve" && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--ws-addr") }) {
		args = append(args, "--ws-addr=") // tests bind only what they ask for
	}
	if len(args) > 0 && args[0] == "serve" {
		for _, flag := range []string{"--admin-addr", "--raft-addr", "--gossip-addr", "--cluster-addr"} {
			if !slices.Contains(args, flag) { // free ports, unless the test binds them
				args = append(args, flag, "127.0.0.1:0")
			}
		}
	}
	go func() { r.done <- app.RunContext(ctx, append([]string{"jmqx"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitTimeout):
			t.Error("jmqx did not stop")
		}
	})
	return r
}

// addr waits for the MQTT listener to be bound.
func (r *running) addr(t *testing.T) net.Addr {
	t.Helper()
	select {
	case a := <-r.ready:
		return a
	case err := <-r.done:
		t.Fatalf("jmqx stopped before listening: %v\nlogs:\n%s", err, r.logs)
	case <-time.After(waitTimeout):
		t.Fatalf("jmqx did not start listening\nlogs:\n%s", r.logs)
	}
	return nil
}

// result waits for the command to return.
func (r *running) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("jmqx did not return\nlogs:\n%s", r.logs)
		return nil
	}
}

// MQTT 3.1.1 packets of a tiny session: CONNECT (client "t1", clean
// session, keep alive 60), SUBSCRIBE a (packet id 1, QoS 0) and PUBLISH a
// "hi" (QoS 0), with the broker's expected answers.
var (
	connect  = []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 't', '1'}
	connack  = []byte{0x20, 2, 0, 0}
	suback   = []byte{0x90, 3, 0, 1, 0}
	publish  = []byte{0x30, 5, 0, 1, 'a', 'h', 'i'}
	sub      = []byte{0x82, 6, 0, 1, 0, 1, 'a', 0}
	pingreq  = []byte{0xC0, 0}
	pingresp = []byte{0xD0, 0}
)

// exchange writes out and expects to read want back.
func exchange(t *testing.T, c net.Conn, out, want []byte) {
	t.Helper()
	if _, err := c.Write(out); err != nil {
		t.Fatalf("write % x: %v", out, err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("after % x: read: %v (got % x)", out, err, got)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("after % x: got % x, want % x", out, got, want)
	}
}

func TestServeRunsBrokerUntilCancelled(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "nested", "data")
	r := start(t, "serve", "--mqtt-addr", "127.0.0.1:0", "--data-dir", dataDir,
		"--max-keepalive", "120", "--log-level", "debug", "--persistence", "off")
	addr := r.addr(t)

	if fi, err := os.Stat(dataDir); err != nil || !fi.IsDir() {
		t.Errorf("data dir %s not created: %v", dataDir, err)
	}
	c, err := net.DialTimeout("tcp", addr.String(), waitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	exchange(t, c, connect, connack)
	exchange(t, c, sub, suback)
	exchange(t, c, publish, publish)
	exchange(t, c, pingreq, pingresp)

	// Shutdown disconnects the client: the connection ends (for 3.1.1,
	// without a DISCONNECT packet) and serve returns nil.
	r.cancel()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Errorf("after shutdown: read % x, %v; want the connection closed", rest, err)
	}
	_ = c.Close()
	if err := r.result(t); err != nil {
		t.Fatalf("serve returned %v after cancel\nlogs:\n%s", err, r.logs)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "store", "default.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--persistence off: the default tenant has a store file (%v)", err)
	}
	logs := r.logs.String()
	for _, want := range []string{"anonymous clients are accepted", addr.String(), "shutting down", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestServeJSONLogs(t *testing.T) {
	t.Parallel()
	r := start(t, "serve", "--mqtt-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json")
	r.addr(t)
	r.cancel()
	if err := r.result(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	for _, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
	}
	if len(lines) < 3 {
		t.Errorf("only %d log lines", len(lines))
	}
}

func TestServeRefusesBadACLFile(t *testing.T) {
	t.Parallel()
	acl := filepath.Join(t.TempDir(), "acl.conf")
	if err := os.WriteFile(acl, []byte("topic read a/#\ntopic reed b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "serve", "--mqtt-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--acl-file", acl)
	err := r.result(t)
	if want := acl + `:2: unknown access "reed"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("serve = %v, want an error containing %q", err, want)
	}
	select {
	case a := <-r.ready:
		t.Errorf("serve listened on %s despite a bad ACL file", a)
	default:
	}
}

func TestServeWithACLFile(t *testing.T) {
	t.Parallel()
	acl := filepath.Join(t.TempDir(), "acl.conf")
	if err := os.WriteFile(acl, []byte("topic readwrite a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "serve", "--mqtt-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--acl-file", acl)
	r.addr(t)
	if !strings.Contains(r.logs.String(), "topic ACL loaded") {
		t.Errorf("no log line for the ACL:\n%s", r.logs)
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "verbose"}, `--log-level "verbose"`},
		{[]string{"--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"--max-keepalive", "70000"}, "--max-keepalive 70000"},
		{[]string{"--max-keepalive", "-1"}, "--max-keepalive -1"},
		{[]string{"--persistence", "fast"}, `--persistence "fast"`},
		{[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout 0s"},
		{[]string{"--mqtt-addr", "no-port"}, "no-port"},
		{[]string{"--raft-tls-cert", "c.pem", "--raft-tls-key", "k.pem"}, "--raft-tls-cert, --raft-tls-key and --raft-tls-ca go together"},
		{[]string{"--admin-tls-key", "k.pem"}, "--admin-tls-cert and --admin-tls-key go together"},
		{[]string{"--admin-tls-cert", "missing.pem", "--admin-tls-key", "missing-key.pem"}, "--admin-tls-cert/--admin-tls-key"},
		{[]string{"--memory-budget", "2GB"}, `--memory-budget "2GB"`},
		{[]string{"--memory-budget", "-1"}, `--memory-budget "-1"`},
		{[]string{"--token", "short"}, "--token: 5 characters; at least 16 are required"},
		{[]string{"--token", "0123456789abcde"}, "--token: 15 characters"},
		{[]string{"--admin-host", "http://admin.example"}, "--admin-host"},
		{[]string{"--admin-host", "admin.example:18083"}, "--admin-host"},
		{[]string{"--admin-advertise", "0.0.0.0:18083"}, `admin advertise address "0.0.0.0:18083"`},
		{[]string{"--admin-advertise", "admin.example"}, `admin advertise address "admin.example"`},
		{[]string{"--raft-addr", "0.0.0.0:18084", "--advertise-host", "broker.example"}, "--raft-advertise"},
		{[]string{"--gossip-addr", ""}, `--gossip-addr "" and --cluster-addr "127.0.0.1:18086": give both`},
		{[]string{"--cluster-addr="}, `--gossip-addr "127.0.0.1:18085" and --cluster-addr "": give both`},
		{[]string{"--gossip-addr", "0.0.0.0:18085", "--advertise-host", "broker.example"}, "--gossip-advertise"},
		{[]string{"--cluster-addr", ":18086"}, "--cluster-advertise"},
		{[]string{"--gossip-advertise", "broker.example:18085"}, `gossip advertise address "broker.example:18085": want a specific IP address`},
		{[]string{"--cluster-advertise", "10.0.0.1"}, `cluster advertise address "10.0.0.1"`},
	}
	for _, tt := range tests {
		args := append([]string{"serve", "--data-dir", t.TempDir()}, tt.args...)
		err := newApp(appEnv{stdout: io.Discard, stderr: io.Discard}).RunContext(context.Background(), append([]string{"jmqx"}, args...))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("jmqx %s = %v, want an error containing %q", strings.Join(args, " "), err, tt.want)
		}
	}
}

// The addresses a node advertises to the others: --admin-advertise (or
// JMQX_ADMIN_ADVERTISE) wins, port 0 meaning the port bound; a Raft
// transport bound to every interface advertises --advertise-host.
func TestServeAdvertiseAddresses(t *testing.T) {
	t.Setenv("JMQX_ADMIN_ADVERTISE", "node1.example.test:0")
	r := start(t, "serve", "--mqtt-addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json",
		"--raft-addr", "0.0.0.0:0", "--advertise-host", "127.0.0.1")
	r.addr(t)
	r.cancel()
	if err := r.result(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	var started struct{ Admin, AdminAdvertise, Raft string }
	for line := range strings.Lines(r.logs.String()) {
		var entry struct {
			Msg            string `json:"msg"`
			Admin          string `json:"admin"`
			AdminAdvertise string `json:"admin_advertise"`
			Raft           string `json:"raft"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "node started" {
			started.Admin, started.AdminAdvertise, started.Raft = entry.Admin, entry.AdminAdvertise, entry.Raft
		}
	}
	_, adminPort, err := net.SplitHostPort(started.Admin)
	if err != nil {
		t.Fatalf("no admin address logged at start: %v\n%s", err, r.logs)
	}
	if want := "node1.example.test:" + adminPort; started.AdminAdvertise != want {
		t.Errorf("admin advertised at %q, want %q", started.AdminAdvertise, want)
	}
	if host, port, _ := net.SplitHostPort(started.Raft); host != "127.0.0.1" || port == "0" {
		t.Errorf("raft advertised at %q, want 127.0.0.1 and the port bound", started.Raft)
	}
}

// --memory-budget reaches the Host's configuration; unset, it is the
// flag's default, the Host's default budget.
func TestServeMemoryBudgetFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		flag string
		want int64
	}{
		{defaultMemoryBudget, tenant.DefaultMemoryBudget},
		{"512MiB", 512 << 20},
		{"0", 0}, // the Host's default
	}
	for _, tt := range tests {
		cfg := serveConfig{mqttAddr: "127.0.0.1:0", memoryBudget: tt.flag}
		ncfg, err := nodeConfig(cfg, zap.NewNop())
		if err != nil {
			t.Fatalf("--memory-budget %s: %v", tt.flag, err)
		}
		if got := ncfg.Host.MemoryBudget; got != tt.want {
			t.Errorf("--memory-budget %s: HostConfig.MemoryBudget = %d, want %d", tt.flag, got, tt.want)
		}
	}
}

// The data-plane flags reach the node's configuration as given; both
// addresses empty turn the data plane off, and --bind-host changes
// neither (as it does not change --raft-addr).
func TestServeDataPlaneFlags(t *testing.T) {
	t.Parallel()
	type dataPlane struct {
		GossipAddr, GossipAdvertise, ClusterAddr, ClusterAdvertise string
		DisableCluster                                             bool
	}
	tests := []struct {
		name string
		cfg  serveConfig
		want dataPlane
	}{
		{"defaults",
			serveConfig{gossipAddr: node.DefaultGossipAddr, clusterAddr: node.DefaultClusterAddr, bindHost: "10.0.0.5"},
			dataPlane{GossipAddr: node.DefaultGossipAddr, ClusterAddr: node.DefaultClusterAddr}},
		{"given",
			serveConfig{gossipAddr: "0.0.0.0:7946", gossipAdvertise: "10.0.0.5:0", clusterAddr: ":7947", clusterAdvertise: "10.0.0.5:7947"},
			dataPlane{GossipAddr: "0.0.0.0:7946", GossipAdvertise: "10.0.0.5:0", ClusterAddr: ":7947", ClusterAdvertise: "10.0.0.5:7947"}},
		{"both empty: off",
			serveConfig{gossipAdvertise: "10.0.0.5:7946"},
			dataPlane{GossipAdvertise: "10.0.0.5:7946", DisableCluster: true}},
	}
	for _, tt := range tests {
		cfg := tt.cfg
		cfg.mqttAddr = "127.0.0.1:0"
		ncfg, err := nodeConfig(cfg, zap.NewNop())
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := dataPlane{ncfg.GossipAddr, ncfg.GossipAdvertise, ncfg.ClusterAddr, ncfg.ClusterAdvertise, ncfg.DisableCluster}
		if got != tt.want {
			t.Errorf("%s: node.Config has %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// The data plane's environment variables count when set empty: one
// address empty is refused, naming both flags.
func TestServeDataPlaneEnv(t *testing.T) {
	t.Setenv("JMQX_GOSSIP_ADDR", "")
	t.Setenv("JMQX_CLUSTER_ADDR", "127.0.0.1:0")
	args := []string{"jmqx", "serve", "--data-dir", t.TempDir()}
	err := newApp(appEnv{stdout: io.Discard, stderr: io.Discard}).RunContext(context.Background(), args)
	if want := `--gossip-addr "" and --cluster-addr "127.0.0.1:0"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("serve with JMQX_GOSSIP_ADDR empty = %v, want an error containing %q", err, want)
	}
}

func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := start(t, "serve", "--mqtt-addr", busy.Addr().String(), "--data-dir", t.TempDir(), "--fixed-ports")
	if err := r.result(t); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("serve --fixed-ports on a busy port = %v, want an error naming %s", err, busy.Addr())
	}
}

func TestServeBusyPortMoved(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := start(t, "serve", "--mqtt-addr", busy.Addr().String(), "--data-dir", t.TempDir())
	got := r.addr(t)
	if got.String() == busy.Addr().String() {
		t.Fatalf("bound the busy address %s", got)
	}
	if !strings.Contains(r.logs.String(), busy.Addr().String()) {
		t.Errorf("logs do not name the busy address %s:\n%s", busy.Addr(), r.logs)
	}
}

func TestServeFlagsDocumented(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	app := newApp(appEnv{stdout: &out, stderr: io.Discard})
	if err := app.RunContext(context.Background(), []string{"jmqx", "serve", "--help"}); err != nil {
		t.Fatalf("serve --help: %v", err)
	}
	help := out.String()
	for _, f := range serveFlags() {
		name := f.Names()[0]
		df, ok := f.(cli.DocGenerationFlag)
		if !ok || df.GetUsage() == "" {
			t.Errorf("--%s has no help text", name)
			continue
		}
		env := "JMQX_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if name == "admin-host" {
			env = "JMQX_ADMIN_HOSTS" // a list: the variable is plural
		}
		if got := df.GetEnvVars(); len(got) != 1 || got[0] != env {
			t.Errorf("--%s env vars = %v, want [%s]", name, got, env)
		}
		for _, want := range []string{"--" + name, env} {
			if !strings.Contains(help, want) {
				t.Errorf("serve --help lacks %q:\n%s", want, help)
			}
		}
	}
}

// TestReadmeDocumentsServeFlags keeps README.md's flag table in step with
// the flags: one row per flag, with its environment variable and default.
func TestReadmeDocumentsServeFlags(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // flag name -> table row, in the serve flags section
	in := false
	for line := range strings.Lines(string(readme)) {
		if strings.HasPrefix(line, "## ") {
			in = strings.HasPrefix(line, "## `jmqx serve` flags")
		}
		if rest, ok := strings.CutPrefix(line, "| `--"); ok && in {
			name, _, _ := strings.Cut(rest, " ")
			name = strings.TrimSuffix(name, "`")
			rows[name] = line
		}
	}
	for _, f := range serveFlags() {
		name := f.Names()[0]
		row, ok := rows[name]
		if !ok {
			t.Errorf("README.md has no table row for --%s", name)
			continue
		}
		df := f.(cli.DocGenerationFlag)
		if env := df.GetEnvVars()[0]; !strings.Contains(row, "`"+env+"`") {
			t.Errorf("README.md row for --%s lacks `%s`", name, env)
		}
		if def := df.GetValue(); def != "" && !strings.Contains(row, "`"+def+"`") {
			t.Errorf("README.md row for --%s lacks the default `%s`", name, def)
		}
		delete(rows, name)
	}
	for name := range rows {
		t.Errorf("README.md documents --%s, which serve does not have", name)
	}
}

// A busy port's search for a free one never takes the configured port of
// another listener: the listeners with free ports are bound first.
func TestServeBusyPortSkipsSiblingPort(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	next := fmt.Sprintf("127.0.0.1:%d", busy.Addr().(*net.TCPAddr).Port+1)
	probe, err := net.Listen("tcp", next)
	if err != nil {
		t.Skipf("%s is taken: %v", next, err)
	}
	probe.Close()
	r := start(t, "serve", "--mqtt-addr", busy.Addr().String(), "--ws-addr", next, "--data-dir", t.TempDir())
	if got := r.addr(t).String(); got == next || got == busy.Addr().String() {
		t.Errorf("MQTT listener bound %s; want neither the busy %s nor the WebSocket's %s", got, busy.Addr(), next)
	}
}
