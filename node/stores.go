package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/store"
	"github.com/jmqx/jmqx/tenant"
)

// storeSweep deletes, once, the store files (Config.StoreDir) of tenants
// deleted while this node was down: the Host deletes the file of a
// tenant it removes, but it never ran those. It waits for a state that
// is surely not older than any this node served before it stopped, so
// that no live tenant's file goes: the live (replicated) state, with a
// leader known, at or past the index this node had applied then.
type storeSweep struct {
	done bool
	// since is the index this node had applied when it started (the
	// applied-index file, else its newest snapshot's).
	since uint64
}

// startIndex is the index this node had applied before it started.
func startIndex(dataDir string, disk meta.DiskState) uint64 {
	applied := disk.SnapshotIndex
	if b, err := os.ReadFile(filepath.Join(dataDir, appliedFile)); err == nil {
		if i, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			applied = max(applied, i)
		}
	}
	return applied
}

// sweepStores runs the sweep once st, the state just reconciled, is the
// live state and new enough (see storeSweep). Reconcile's goroutine only.
func (n *Node) sweepStores(st meta.State) {
	if n.sweep.done || n.local.st.Load() != nil || st.Index == 0 || st.Index < n.sweep.since {
		return
	}
	if id, _ := n.store.Leader(); id == "" {
		return
	}
	n.sweep.done = true
	entries, err := os.ReadDir(n.cfg.StoreDir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		n.log.Warn("cannot list the tenant stores to delete those of deleted tenants", zap.String("dir", n.cfg.StoreDir), zap.Error(err))
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), tenant.StoreFileSuffix)
		if !ok || e.IsDir() {
			continue
		}
		if _, live := st.Tenants[name]; live {
			continue
		}
		path := filepath.Join(n.cfg.StoreDir, e.Name())
		if err := store.Remove(path); err != nil {
			n.log.Warn("cannot delete the store of a deleted tenant", zap.String("tenant", name), zap.Error(err))
			continue
		}
		n.log.Info("store of a tenant deleted while this node was down: file deleted", zap.String("tenant", name), zap.String("file", path))
	}
}
