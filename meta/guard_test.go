package meta

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// raftDir returns the Raft directory of a stopped single node that
// applied n tenants, after a snapshot when snapshot is set.
func raftDir(t *testing.T, n int, snapshot bool) string {
	t.Helper()
	cfg := tcpConfig(t, "n1", true)
	cfg.TrailingLogs = 2 // a snapshot compacts the log
	s := openStore(t, cfg)
	waitSelfLeader(t, s)
	ctx := testContext(t, 20*time.Second)
	for i := range n {
		if err := s.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec(string(rune('a' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	if snapshot {
		if err := s.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return cfg.Dir
}

func TestInspectDirHealthy(t *testing.T) {
	t.Parallel()
	for _, snapshot := range []bool{false, true} {
		dir := raftDir(t, 5, snapshot)
		d, err := InspectDir(dir)
		if err != nil {
			t.Fatalf("snapshot %v: %v", snapshot, err)
		}
		if !d.HasState() || d.Term == 0 || d.LastIndex < 6 || !d.HasServer("n1") || len(d.Servers) != 1 || !d.Servers[0].Voter {
			t.Errorf("snapshot %v: %+v", snapshot, d)
		}
		if snapshot && (d.SnapshotIndex < 6 || d.FirstIndex <= 1) {
			t.Errorf("after a snapshot: %+v", d)
		}
	}
}

func TestInspectDirNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := InspectDir(dir)
	if err != nil || d.HasState() || d.LogExists {
		t.Fatalf("empty directory: %+v, %v", d, err)
	}
	if err := os.WriteFile(filepath.Join(dir, LogFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err = InspectDir(dir)
	if err != nil || d.HasState() || !d.LogExists || d.LogSize != 0 {
		t.Fatalf("empty raft.db: %+v, %v", d, err)
	}
}

// TestInspectDirDamaged: every kind of damage is an ErrDamaged error of
// one line naming the file, never a panic (bbolt panics with "invalid
// freelist page", raft with "log not found", on several of these).
func TestInspectDirDamaged(t *testing.T) {
	t.Parallel()
	page := int64(os.Getpagesize())
	cases := []struct {
		name     string
		snapshot bool
		damage   func(t *testing.T, dir string)
		want     string
	}{
		{"truncated to three pages", false, func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, LogFile), 3*page)
		}, "truncated"},
		{"truncated to the meta pages", false, func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, LogFile), 2*page)
		}, "truncated"},
		{"meta pages overwritten", false, func(t *testing.T, dir string) {
			scribble(t, filepath.Join(dir, LogFile), 0, 2*page)
		}, "meta page"},
		{"every page after the meta pages overwritten", false, func(t *testing.T, dir string) {
			path := filepath.Join(dir, LogFile)
			scribble(t, path, 2*page, size(t, path)-2*page)
		}, LogFile},
		{"snapshots lost after compaction", true, func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, SnapshotsDir)); err != nil {
				t.Fatal(err)
			}
		}, "entries 1 to"},
		{"snapshot state damaged", true, func(t *testing.T, dir string) {
			states, _ := filepath.Glob(filepath.Join(dir, SnapshotsDir, "*", "state.bin"))
			for _, s := range states {
				scribble(t, s, 0, 8)
			}
		}, "newest snapshots can be read"},
	}
	for _, c := range cases {
		dir := raftDir(t, 5, c.snapshot)
		c.damage(t, dir)
		_, err := InspectDir(dir)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") ||
			!strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v; want ErrDamaged naming the file and %q, on one line", c.name, err, c.want)
		}
	}
}

// TestInspectDirRandomDamage damages raft.db at random (bytes, whole
// pages, page headers): InspectDir never panics or faults, and whatever it
// accepts, bbolt's own consistency check accepts too. (bbolt's Tx.Check
// panics, in a goroutine of its own, on some of the others.)
func TestInspectDirRandomDamage(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile(filepath.Join(raftDir(t, 20, false), LogFile))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	page := os.Getpagesize()
	refused := 0
	const runs = 600
	for i := range runs {
		b := append([]byte(nil), orig...)
		switch i % 3 {
		case 0:
			for range 1 + r.IntN(8) {
				b[r.IntN(len(b))] = byte(r.IntN(256))
			}
		case 1:
			p := r.IntN(len(b) / page)
			for j := p * page; j < (p+1)*page; j++ {
				b[j] = byte(r.IntN(256))
			}
		case 2:
			b[r.IntN(len(b)/page)*page+r.IntN(boltPageHeader)] = byte(r.IntN(256))
		}
		dir := t.TempDir()
		path := filepath.Join(dir, LogFile)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := InspectDir(dir); err != nil {
			refused++
			continue
		}
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("run %d: accepted, but bbolt: %v", i, err)
		}
		err = db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatalf("run %d: accepted, but bbolt's check: %v", i, err)
		}
	}
	t.Logf("%d of %d damaged files refused (the others in free pages, slack space, or data that still decodes)", refused, runs)
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

// scribble overwrites n bytes of the file at off with a fixed pattern.
func scribble(t *testing.T, path string, off, n int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestLocalState: the snapshot and the entries up to an index, replayed
// without Raft.
func TestLocalState(t *testing.T) {
	t.Parallel()
	for _, snapshot := range []bool{false, true} {
		d, err := InspectDir(raftDir(t, 5, snapshot))
		if err != nil {
			t.Fatal(err)
		}
		all, err := d.LocalState(d.LastIndex)
		if err != nil || len(all.Tenants) != 5 {
			t.Fatalf("snapshot %v: all entries: %v, %v", snapshot, all.TenantNames(), err)
		}
		if snapshot {
			continue
		}
		some, err := d.LocalState(d.LastIndex - 2) // the last two tenants not yet applied
		if err != nil || len(some.Tenants) != 3 || some.Index != d.LastIndex-2 {
			t.Fatalf("up to %d: %v (index %d), %v", d.LastIndex-2, some.TenantNames(), some.Index, err)
		}
	}
}

// TestElectSoleVoter: a single voter with the default timeouts (an
// election after 1 to 2 s) leads within a few hundred milliseconds; a node
// with other voters is left alone.
func TestElectSoleVoter(t *testing.T) {
	t.Parallel()
	cfg := tcpConfig(t, "n1", true)
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 0, 0, 0 // defaults
	began := time.Now()
	s := openStore(t, cfg)
	if ok, err := s.ElectSoleVoter(); !ok || err != nil {
		t.Fatalf("ElectSoleVoter = %v, %v", ok, err)
	}
	eventually(t, 5*time.Second, func() error {
		if !s.IsLeader() {
			return errors.New("not the leader yet")
		}
		return nil
	})
	if d := time.Since(began); d >= 900*time.Millisecond {
		t.Errorf("leader after %v", d)
	}
	if rc := s.raft.ReloadableConfig(); rc.HeartbeatTimeout != DefaultHeartbeatTimeout {
		t.Errorf("heartbeat timeout %v after, want %v", rc.HeartbeatTimeout, DefaultHeartbeatTimeout)
	}

	nodes := startMemCluster(t, 3, nil)
	for _, n := range nodes {
		if ok, err := n.ElectSoleVoter(); ok || err != nil {
			t.Errorf("%s in a cluster of 3: ElectSoleVoter = %v, %v", n.ID(), ok, err)
		}
	}
}

// TestInspectDirInUse: raft.db held by a running store is reported as in
// use, after a second at most, rather than read.
func TestInspectDirInUse(t *testing.T) {
	t.Parallel()
	cfg := tcpConfig(t, "n1", true)
	openStore(t, cfg)
	began := time.Now()
	if _, err := InspectDir(cfg.Dir); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), LogFile) {
		t.Fatalf("InspectDir of a running store's directory: %v", err)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestInspectDirUninitialized: a bolt file without raft-boltdb's buckets
// (a start that stopped right after creating it) holds no state.
func TestInspectDirUninitialized(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, LogFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err := InspectDir(dir); err != nil || d.HasState() || !d.LogExists {
		t.Fatalf("%+v, %v", d, err)
	}
}
