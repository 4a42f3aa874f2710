package node

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/meta"
)

// appliedFile records the index of the last change this node applied, so
// that a restart without a quorum knows which entries of its own log were
// committed (Raft does not record it).
const appliedFile = "applied-index"

// localState is the control-plane state a node serves after a restart
// that finds no leader: its newest snapshot and the entries of its own
// log it had applied (all committed) before it stopped. Raft replays none
// of them on a follower until a leader tells it what is committed, so the
// live state would be the snapshot alone, often empty. The node serves
// this one until the live state reaches it.
type localState struct {
	st    atomic.Pointer[meta.State]
	saved uint64 // the index in appliedFile; reconcile's goroutine only
}

// serveLocal makes the node serve its local state; why is the reason no
// leader is known.
func (n *Node) serveLocal(why error) {
	path := filepath.Join(n.cfg.DataDir, appliedFile)
	applied := n.data.disk.SnapshotIndex
	if b, err := os.ReadFile(path); err == nil {
		if i, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			applied = max(applied, i)
		}
	}
	st, err := n.data.disk.LocalState(applied)
	if err != nil {
		n.log.Warn("no leader yet, and the local state cannot be read; serving the snapshot's tenants", zap.NamedError("wait", why), zap.Error(err))
		return
	}
	n.local.saved = applied
	if live := n.store.State(); live.Index < st.Index {
		n.local.st.Store(&st)
	}
	n.log.Warn("no leader yet; serving the tenants of the local state until the cluster has a quorum",
		zap.Uint64("applied_index", applied), zap.Int("tenants", len(st.Tenants)), zap.NamedError("wait", why))
}

// served returns the state to serve: the live one, or the local one while
// the live one is behind it. It also records the live state's index.
func (n *Node) served() meta.State {
	live := n.store.State()
	if live.Index > n.local.saved {
		n.local.saved = live.Index
		tmp := filepath.Join(n.cfg.DataDir, appliedFile+".tmp")
		data := []byte(strconv.FormatUint(live.Index, 10) + "\n")
		if err := os.WriteFile(tmp, data, 0o640); err == nil {
			_ = os.Rename(tmp, filepath.Join(n.cfg.DataDir, appliedFile))
		}
	}
	if st := n.local.st.Load(); st != nil {
		if live.Index < st.Index {
			return *st
		}
		n.local.st.Store(nil)
		n.log.Info("the replicated state has caught up with the local state")
	}
	return live
}
