package integration

// End-to-end tests of what `jmqx serve` does with its data folder: it
// refuses, in one line and with a non-zero exit, a folder in use, damaged,
// incomplete or of another cluster, rather than panic, lose the state or
// merge two Raft histories; a single node is ready at once; a node without
// a quorum serves its local tenants. They use cli_e2e_test.go's harness.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// datadirPorts numbers the tenant port ranges of this file's tests.
var datadirPorts atomic.Int32

// ownPorts gives nodes a tenant port range of their own (24000 and up),
// so that a node restarted on the ports it had does not find them taken
// by another test's node.
func ownPorts(nodes ...*cliNode) {
	lo := 24000 + 100*int(datadirPorts.Add(1))
	for _, n := range nodes {
		n.extra = append(n.extra, "--port-range", fmt.Sprintf("%d-%d", lo, lo+99))
	}
}

// serveRefused runs `jmqx serve` with args (admin API at admin), which
// must exit with a non-zero status, without ever becoming ready, within
// 15 s. It returns the last line of the output, the refusal, after
// checking that it is one line of "jmqx: " and that nothing panicked.
func serveRefused(t *testing.T, admin string, args []string) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "refused.log")
	_, done := launch(t, logPath, args)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.After(15 * time.Second)
	poll := time.NewTicker(20 * time.Millisecond) // how often readiness is checked meanwhile
	defer poll.Stop()
	for {
		select {
		case err := <-done:
			done <- err
			out, _ := os.ReadFile(logPath)
			if err == nil {
				t.Fatalf("jmqx serve %s exited 0; want a refusal:\n%s", strings.Join(args, " "), out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			last := lines[len(lines)-1]
			for _, bad := range []string{"panic", "goroutine ", "fatal error"} {
				if strings.Contains(string(out), bad) {
					t.Fatalf("jmqx serve %s: %q in its output:\n%s", strings.Join(args, " "), bad, out)
				}
			}
			if !strings.HasPrefix(last, "jmqx: ") {
				t.Fatalf("jmqx serve %s: the last line is not the error:\n%s", strings.Join(args, " "), out)
			}
			return last
		case <-deadline:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("jmqx serve %s still running after 15s; want a refusal:\n%s", strings.Join(args, " "), tail(out))
		case <-poll.C:
			if resp, err := client.Get("http://" + admin + "/readyz"); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					out, _ := os.ReadFile(logPath)
					t.Fatalf("jmqx serve %s started (ready) instead of refusing:\n%s", strings.Join(args, " "), tail(out))
				}
			}
		}
	}
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// wantMention fails unless line mentions every part.
func wantMention(t *testing.T, line string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(line, p) {
			t.Errorf("refusal %q does not mention %q", line, p)
		}
	}
}

// copyDataDir copies a stopped node's data folder to a new one.
func copyDataDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "data")
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o750)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// overwrite writes n bytes of pattern at off in the file at path.
func overwrite(t *testing.T, path string, off, n int64, pattern func(i int) byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	for i := range b {
		b[i] = pattern(i)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestDataDirRaftLogMissingOrDamaged: a raft.db missing or empty next to
// the node's other state used to bootstrap a new, empty cluster; a
// truncated or damaged one, or snapshots lost after the log was
// compacted, used to crash with a Go stack (SIGBUS, "invalid freelist
// page", "index out of range", "log not found"). Each is now refused, in
// one line naming the file and what to do.
func TestDataDirRaftLogMissingOrDamaged(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	n.extra = []string{"--raft-snapshot-threshold", "8", "--raft-snapshot-interval", "50ms", "--raft-trailing-logs", "2"}
	ownPorts(n)
	n.start(false)
	for i := range 12 {
		mustCLI(t, n.admin, "", "tenant", "create", fmt.Sprint("t", i), "--allow-anonymous", "--ws-port", "off", "--json")
	}
	snaps := filepath.Join(n.dataDir, "raft", "snapshots")
	eventually(t, 10*time.Second, func() error {
		if s, _ := os.ReadDir(snaps); len(s) == 0 {
			return fmt.Errorf("no snapshot in %s", snaps)
		}
		return nil
	})
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	cases := []struct {
		name    string
		damage  func(db string)
		mention []string
	}{
		{"missing", func(db string) { _ = os.Remove(db) }, []string{"is missing", "node-id"}},
		{"empty", func(db string) { _ = os.Truncate(db, 0) }, []string{"is empty"}},
		{"truncated", func(db string) { _ = os.Truncate(db, 3*page) }, []string{"damaged", "truncated"}},
		{"zeroed after the meta pages", func(db string) {
			fi, _ := os.Stat(db)
			overwrite(t, db, 2*page, fi.Size()-2*page, func(int) byte { return 0 })
		}, []string{"damaged"}},
		{"scribbled after the meta pages", func(db string) {
			fi, _ := os.Stat(db)
			overwrite(t, db, 2*page, fi.Size()-2*page, func(i int) byte { return byte(i*7 + 3) })
		}, []string{"damaged"}},
		{"snapshots lost after compaction", func(db string) {
			_ = os.RemoveAll(filepath.Join(filepath.Dir(db), "snapshots"))
		}, []string{"damaged", "entries 1 to", "no snapshot"}},
	}
	for _, c := range cases {
		dir := copyDataDir(t, n.dataDir)
		db := filepath.Join(dir, "raft", "raft.db")
		c.damage(db)
		line := serveRefused(t, n.admin, serveArgs(n, dir))
		t.Logf("%s: %s", c.name, line)
		wantMention(t, line, append(c.mention, filepath.Join(dir, "raft"), "restore", "remove the data folder")...)
	}

	// The folder itself was never touched: it starts, with its tenants.
	n.start(false)
	if names, err := tenantNames(t, n.admin); err != nil || !names["t11"] {
		t.Fatalf("tenants after the restart: %v, %v", names, err)
	}
}

// TestDataDirNodeID: --node-id given once with another value used to
// overwrite the saved ID (the node then never found a leader again), and
// an empty or damaged node-id file silently became a new identity. Both
// are refused.
func TestDataDirNodeID(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	ownPorts(n)
	n.start(false)
	mustCLI(t, n.admin, "", "tenant", "create", "acme", "--allow-anonymous", "--ws-port", "off", "--json")
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line := serveRefused(t, n.admin, serveArgs(n, n.dataDir, "--node-id", "n2"))
	wantMention(t, line, `"n2"`, `"n1"`, filepath.Join(n.dataDir, "node-id"))

	idPath := filepath.Join(n.dataDir, "node-id")
	for content, problem := range map[string]string{"": "is empty", "\x00\x00\x00\x00\x00\x00": "is malformed"} {
		if err := os.WriteFile(idPath, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		line := serveRefused(t, n.admin, serveArgs(n, n.dataDir))
		wantMention(t, line, idPath, problem, "n1 at "+n.raft)
	}

	if err := os.WriteFile(idPath, []byte("n1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	n.start(false)
	if names, err := tenantNames(t, n.admin); err != nil || !names["acme"] {
		t.Fatalf("tenants after the restart: %v, %v", names, err)
	}
}

// TestDataDirJoin: --join on a folder that bootstrapped its own cluster,
// or that belongs to another cluster than the one asked, used to merge two
// Raft histories. It is refused; a member restarting with --join through
// its own cluster still starts.
func TestDataDirJoin(t *testing.T) {
	t.Parallel()
	a1 := newCLINode(t, "a1", "")
	a2 := newCLINode(t, "a2", a1.admin)
	b1 := newCLINode(t, "b1", "")
	ownPorts(a1, a2, b1)
	a1.start(false)
	a2.start(true)
	b1.start(false)
	mustCLI(t, b1.admin, "", "tenant", "create", "b-only", "--allow-anonymous", "--ws-port", "off", "--json")
	if err := b1.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// b1 bootstrapped cluster B alone: it may not join A.
	line := serveRefused(t, b1.admin, serveArgs(b1, b1.dataDir, "--node-id", "b1", "--join", a1.admin))
	wantMention(t, line, "merge two Raft histories", b1.dataDir)
	if ms, err := clusterMembers(t, a1.admin); err != nil || len(ms) != 2 {
		t.Fatalf("cluster A's members: %+v, %v", ms, err)
	}

	// a2, a member of A, restarts with --join through A: fine; through B: refused.
	if err := a2.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	a2.start(true)
	b1.start(false)
	if err := a2.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line = serveRefused(t, a2.admin, serveArgs(a2, a2.dataDir, "--node-id", "a2", "--join", b1.admin))
	wantMention(t, line, "not the one the data folder", "b1 at "+b1.raft, "a1 at "+a1.raft)
	if ms, err := clusterMembers(t, b1.admin); err != nil || len(ms) != 1 {
		t.Fatalf("cluster B's members: %+v, %v", ms, err)
	}
}

// TestDataDirDefaultTenantAfterCrashedFirstStart: a first start killed
// between the bootstrap and the creation of the default tenant used to
// leave a node without a default tenant, ever. The next start creates it.
func TestDataDirDefaultTenantAfterCrashedFirstStart(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	ownPorts(n)
	cmd, done := launch(t, n.logPath, serveArgs(n, n.dataDir, "--node-id", "n1"))
	eventually(t, 20*time.Second, func() error {
		if b, _ := os.ReadFile(n.logPath); !bytes.Contains(b, []byte("bootstrapped a single-voter raft group")) {
			return errors.New("no bootstrap logged")
		}
		return nil
	})
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	done <- nil
	_, err := os.Stat(filepath.Join(n.dataDir, "first-start"))
	t.Logf("killed after the bootstrap; first start still marked unfinished: %v", err == nil)

	n.start(false)
	if names, err := tenantNames(t, n.admin); err != nil || !names["default"] {
		t.Fatalf("tenants after the restart: %v, %v\n%s", names, err, n.log())
	}
}

// TestDataDirInUse: a second node on a folder in use used to wait 5 s and
// fail with "open …/raft.db: timeout". It is refused at once, naming the
// process that holds the folder.
func TestDataDirInUse(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	ownPorts(n)
	n.start(false)
	other := newCLINode(t, "n1", "")
	began := time.Now()
	line := serveRefused(t, other.admin, serveArgs(other, n.dataDir))
	wantMention(t, line, "in use by another process", fmt.Sprint("pid ", n.cmd.Process.Pid), filepath.Join(n.dataDir, "LOCK"))
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("refused after %v", d)
	}
}

// TestDataDirSingleNodeReadyAtOnce: a single node used to need 1 to 2 s
// (the heartbeat timeout) to elect itself before /readyz. From process
// start to /readyz now takes well under a second, at the first start and
// at restarts. Not parallel: it measures time.
func TestDataDirSingleNodeReadyAtOnce(t *testing.T) {
	n := newCLINode(t, "n1", "")
	ownPorts(n)
	jmqxBinary(t) // built before the clock starts
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var took []time.Duration
	for i := range 3 {
		began := time.Now()
		cmd, done := launch(t, n.logPath, serveArgs(n, n.dataDir, "--node-id", "n1"))
		eventually(t, 20*time.Second, func() error {
			resp, err := client.Get("http://" + n.admin + "/readyz")
			if err != nil {
				return fmt.Errorf("start %d: %w", i, err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("start %d: /readyz %s", i, resp.Status)
			}
			return nil
		})
		took = append(took, time.Since(began))
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		<-done
		done <- nil
	}
	t.Logf("process start to /readyz: first start %v, restarts %v and %v", took[0], took[1], took[2])
	if best := slices.Min(took); best > 500*time.Millisecond {
		t.Errorf("fastest start to /readyz %v; want well under a second", best)
	}
}

// TestDataDirRaftLogArguments: raft's "initial configuration" line used
// to log its servers as ["%+v", [...]]: hclog's formatting values are now
// formatted.
func TestDataDirRaftLogArguments(t *testing.T) {
	t.Parallel()
	n := newCLINode(t, "n1", "")
	ownPorts(n)
	n.start(false)
	if err := n.stop(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(n.logPath)
	if bytes.Contains(log, []byte(`%+v`)) || bytes.Contains(log, []byte(`["%`)) {
		t.Errorf("a format verb in the log:\n%s", log)
	}
	found := false
	for line := range strings.SplitSeq(string(log), "\n") {
		var e struct {
			Msg     string `json:"msg"`
			Servers any    `json:"servers"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "initial configuration" {
			continue
		}
		found = true
		if s, ok := e.Servers.(string); !ok || !strings.Contains(s, "ID:n1 Address:"+n.raft) {
			t.Errorf("servers logged as %#v", e.Servers)
		}
	}
	if !found {
		t.Errorf("no initial configuration logged:\n%s", log)
	}
}

// TestDataDirNoQuorumServesLocalTenants: a node restarted while its
// cluster has no quorum used to serve no tenant at all (Raft replays
// nothing on a follower without a leader), though it logged that it
// served the local state. It now serves the tenants of its own log and
// snapshot, on the ports it had.
func TestDataDirNoQuorumServesLocalTenants(t *testing.T) {
	t.Parallel()
	n1 := newCLINode(t, "n1", "")
	n2 := newCLINode(t, "n2", n1.admin)
	n3 := newCLINode(t, "n3", n1.admin)
	ownPorts(n1, n2, n3)
	n1.start(false)
	n2.start(true)
	n3.start(true)
	mustCLI(t, n1.admin, "", "tenant", "create", "t5", "--allow-anonymous", "--ws-port", "off", "--json")
	addr := waitTenantMQTT(t, n1.admin, "t5", 3, 10*time.Second)["n3"]
	// A credential revoked before the restart stays revoked on n3.
	mustCLI(t, n1.admin, "p1\n", "user", "add", "t5", "dev", "--password-stdin")
	closeV5(eventuallyConnect(t, addr, "dev-before", credentials("dev", "p1")))
	mustCLI(t, n1.admin, "", "user", "remove", "t5", "dev")
	eventually(t, 10*time.Second, func() error { // n3 has applied the removal
		if out := mustCLI(t, n3.admin, "", "user", "list", "t5"); strings.Contains(out, "dev") {
			return fmt.Errorf("n3 still lists dev: %s", out)
		}
		return nil
	})
	for _, n := range []*cliNode{n1, n2, n3} {
		if err := n.stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}

	// n3 alone, one voter of three: never ready (/readyz wants a leader),
	// but serving t5 on the port it had.
	fi, err := os.Stat(n3.logPath)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	launch(t, n3.logPath, serveArgs(n3, n3.dataDir, "--node-id", "n3"))
	want := fmt.Sprintf(`"tenant":"t5","listeners":{"mqtt":%q}`, addr)
	eventually(t, 40*time.Second, func() error {
		if log, _ := os.ReadFile(n3.logPath); !bytes.Contains(log[before:], []byte(want)) {
			return fmt.Errorf("n3 does not serve t5 on %s:\n%s", addr, tail(log[before:]))
		}
		return nil
	})
	closeV5(eventuallyConnect(t, addr, "c5"))
	eventuallyRefused(t, addr, "dev-after", 0x86, credentials("dev", "p1"))
	if !n3.logHas("serving the tenants of the local state") {
		t.Errorf("n3 does not say it serves its local state:\n%s", n3.log())
	}
}
