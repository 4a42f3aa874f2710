package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

// startErr starts a node that must be refused, and returns the error.
func startErr(t *testing.T, cfg Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n, err := Start(ctx, cfg, zaptest.NewLogger(t))
	if err == nil {
		stop(t, n)
		t.Fatal("Start succeeded; want a refusal")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error of more than one line: %q", err)
	}
	return err
}

// wantErr checks that err mentions every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// stopped runs a node on cfg once and stops it.
func stopped(t *testing.T, cfg Config) *Node {
	t.Helper()
	n := start(t, cfg)
	stop(t, n)
	return n
}

func TestSecondNodeOnADataDirRefused(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	n := start(t, cfg)
	other := testConfig(t, cfg.DataDir)
	began := time.Now()
	err := startErr(t, other)
	wantErr(t, err, "in use by another process", filepath.Join(cfg.DataDir, lockFile))
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("refused after %v", d)
	}
	stop(t, n)
	stopped(t, other) // released by Shutdown
}

func TestNodeIDKeptForLife(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = "n1"
	stopped(t, cfg)

	cfg.NodeID = "n2"
	wantErr(t, startErr(t, cfg), `"n2"`, `"n1"`, idFile)
	cfg.NodeID = ""
	if n := stopped(t, cfg); n.ID() != "n1" {
		t.Fatalf("ID %s, want the saved n1", n.ID())
	}

	// A damaged or missing node-id file is refused, not replaced…
	path := filepath.Join(cfg.DataDir, idFile)
	for content, problem := range map[string]string{"": "empty", "\x00\x00\x00\x00": "malformed", "-": "missing"} {
		_ = os.Remove(path)
		if content != "-" {
			if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		wantErr(t, startErr(t, cfg), path, problem, "n1 at")
	}
	// …unless the ID given is in the Raft configuration.
	cfg.NodeID = "n1"
	stopped(t, cfg)
	if b, _ := os.ReadFile(path); string(b) != "n1\n" {
		t.Fatalf("node-id holds %q", b)
	}
}

// A first start that stopped before creating the Raft state, leaving a
// damaged node-id: nothing to lose, the file is replaced.
func TestNodeIDFileReplacedWithoutState(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{idFile: "\x00\x00", firstStartFile: "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if n := stopped(t, testConfig(t, dir)); !strings.HasPrefix(n.ID(), "node-") {
		t.Fatalf("ID %q", n.ID())
	}
}

func TestRaftLogMissingOrEmptyRefused(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	stopped(t, cfg)
	log := filepath.Join(cfg.DataDir, raftDir, meta.LogFile)
	if err := os.Rename(log, log+".bak"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, startErr(t, cfg), log, "is missing", idFile, "restore")
	if err := os.WriteFile(log, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wantErr(t, startErr(t, cfg), log, "is empty", "restore")
	if err := os.Rename(log+".bak", log); err != nil {
		t.Fatal(err)
	}
	stopped(t, cfg)
}

// A join that never received the cluster's state leaves node-id and an
// empty raft.db: nothing is lost by starting over.
func TestFailedJoinStartsOver(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Join, cfg.JoinTimeout = []string{freeAddr(t)}, 300*time.Millisecond
	startErr(t, cfg)
	cfg.Join = nil
	n := start(t, cfg)
	if _, ok := n.Host().Get("default"); !ok {
		t.Fatal("no default tenant after the bootstrap")
	}
}

func TestJoinRefusedOnABootstrappedDir(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	stopped(t, cfg)
	cfg.Join = []string{freeAddr(t)}
	wantErr(t, startErr(t, cfg), "merge two Raft histories", "only server")
}

func TestJoinRefusedOnAnotherCluster(t *testing.T) {
	n1 := start(t, testConfig(t, t.TempDir()))
	cfg2 := testConfig(t, t.TempDir())
	cfg2.DefaultTenant, cfg2.Join = nil, []string{n1.AdminAddr().String()}
	cfg2.Host.PortMin, cfg2.Host.PortMax = 16000, 16999
	n2 := start(t, cfg2)
	stop(t, n2)
	stopped(t, cfg2) // a member restarts with its join address

	other := start(t, testConfig(t, t.TempDir())) // another single-node cluster
	cfg2.Join = []string{other.AdminAddr().String()}
	wantErr(t, startErr(t, cfg2), "not the one the data folder", n1.ID())
}

// A first start that stopped between the bootstrap and the creation of
// the default tenant creates it at the next start.
func TestFirstStartCompletedAfterACrash(t *testing.T) {
	dir := t.TempDir()
	s, err := meta.Open(meta.Config{NodeID: "n1", Dir: filepath.Join(dir, raftDir), BindAddr: freeAddr(t), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := s.ElectSoleVoter(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{idFile: "n1\n", firstStartFile: "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, dir)
	n := start(t, cfg)
	if _, ok := n.Host().Get("default"); !ok {
		t.Fatal("the default tenant was not created")
	}
	if exists(filepath.Join(dir, firstStartFile)) {
		t.Error("the first start is still marked unfinished")
	}

	// Once the first start is done, a deleted default tenant stays deleted.
	if err := client(t, n).DeleteTenant(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	stop(t, n)
	if n := stopped(t, cfg); len(n.store.State().Tenants) != 0 {
		t.Fatalf("tenants after the restart: %v", n.store.State().TenantNames())
	}
}

// A single voter leads at once instead of after the heartbeat timeout
// (1 to 2 s): Start, which waits for the leader, returns well within 1 s.
func TestSingleNodeReadyAtOnce(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	for _, what := range []string{"bootstrap", "restart"} {
		began := time.Now()
		n := start(t, cfg)
		took := time.Since(began)
		stop(t, n)
		t.Logf("%s: Start returned in %v", what, took)
		if took > 900*time.Millisecond {
			t.Errorf("%s: Start took %v", what, took)
		}
	}
}

// A node restarted without a quorum serves the tenants of its own log,
// which Raft does not replay on a follower that knows no leader.
func TestNoQuorumServesTheLocalState(t *testing.T) {
	cfg1 := testConfig(t, t.TempDir())
	n1 := start(t, cfg1)
	cfg2 := testConfig(t, t.TempDir())
	cfg2.DefaultTenant, cfg2.Join = nil, []string{n1.AdminAddr().String()}
	cfg2.Host.PortMin, cfg2.Host.PortMax = 16000, 16999
	n2 := start(t, cfg2)
	c := client(t, n1)
	acme := tenant.Spec{Name: "acme", Auth: tenant.Auth{AllowAnonymous: true}, Listeners: tenant.Listeners{MQTT: tenant.PortAuto, WS: tenant.PortOff}}
	if _, err := c.CreateTenant(context.Background(), acme); err != nil {
		t.Fatal(err)
	}
	addr := boundOn(t, c, "acme", n2.ID())
	stop(t, n1)
	stop(t, n2)

	cfg2.Join = nil
	n2 = start(t, cfg2) // alone: one voter of two
	if id, _ := n2.store.Leader(); id != "" {
		t.Fatalf("leader %s without a quorum", id)
	}
	for _, name := range []string{"default", "acme"} {
		if _, ok := n2.Host().Get(name); !ok {
			t.Errorf("%s is not served without a quorum", name)
		}
	}
	if st, _ := n2.Host().Get("acme"); st.Listeners["mqtt"] != addr {
		t.Errorf("acme on %s, want %s as before", st.Listeners["mqtt"], addr)
	}
}
