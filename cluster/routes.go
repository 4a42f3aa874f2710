package cluster

import (
	"hash/fnv"
	"sync"

	"github.com/jmqx/jmqx/internal/topics"
)

// localRoutes is this node's routes for one tenant: the filters it has
// local subscribers for. Each node is the only writer of its own routes.
// version is that of the last change, from a counter of the whole node, so
// that a tenant removed and created again never reuses one; hash is the XOR of the entries' hashes, so
// that a digest (version, hash) tells a peer whether its copy is whole.
type localRoutes struct {
	version uint64
	hash    uint64
	entries map[string]uint64 // filter → local members
}

func newLocalRoutes() *localRoutes { return &localRoutes{entries: make(map[string]uint64)} }

// apply records a change as version next(); false when it changes
// nothing.
func (l *localRoutes) apply(filter string, added bool, next func() uint64) bool {
	_, ok := l.entries[filter]
	if ok == added {
		return false
	}
	if added {
		l.entries[filter] = 1
	} else {
		delete(l.entries, filter)
	}
	l.version = next()
	l.hash ^= entryHash(filter)
	return true
}

// setMembers records n local members of the shared group filter as
// version next(); false when the filter has no route or n is unchanged.
func (l *localRoutes) setMembers(filter string, n uint64, next func() uint64) bool {
	if old, ok := l.entries[filter]; !ok || old == n {
		return false
	}
	l.entries[filter] = n
	l.version = next()
	return true
}

// list returns the entries.
func (l *localRoutes) list() []routeEntry {
	out := make([]routeEntry, 0, len(l.entries))
	for f, m := range l.entries {
		out = append(out, routeEntry{f, m})
	}
	return out
}

// entryHash hashes one route entry for the digest.
func entryHash(filter string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(filter))
	return h.Sum64()
}

// digest is what gossip carries of one tenant's routes of one node.
type digest struct {
	Version uint64 `json:"v"`
	Hash    uint64 `json:"h"`
}

// peerView is what this node holds of one peer's routes for one tenant.
type peerView struct {
	version uint64
	hash    uint64
	filters map[string]uint64
	// snap collects a snapshot while it arrives (nil: none).
	snap map[string]uint64
	// behind is a digest version seen while this view was older: still
	// older at the next digest means a resync (0: none).
	behind uint64
}

// remoteRoutes is every peer's routes for one tenant: a trie keyed by peer
// name for matching (the value: the peer's members of a shared group), and
// each peer's view for snapshots and digests.
type remoteRoutes struct {
	trie  *topics.Trie[string, uint64]
	mu    sync.Mutex
	peers map[string]*peerView
}

func newRemoteRoutes() *remoteRoutes {
	return &remoteRoutes{trie: topics.New[string, uint64](), peers: make(map[string]*peerView)}
}

// view returns peer's view, made on first use; r.mu held.
func (r *remoteRoutes) view(peer string) *peerView {
	v := r.peers[peer]
	if v == nil {
		v = &peerView{filters: make(map[string]uint64)}
		r.peers[peer] = v
	}
	return v
}

// change applies one route change of peer.
func (r *remoteRoutes) change(peer string, c routeChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view(peer)
	_, had := v.filters[c.entry.filter]
	switch {
	case c.added && !had:
		v.filters[c.entry.filter] = c.entry.members
		v.hash ^= entryHash(c.entry.filter)
		r.trie.Subscribe(c.entry.filter, peer, c.entry.members)
	case c.added:
		v.filters[c.entry.filter] = c.entry.members
		r.trie.Subscribe(c.entry.filter, peer, c.entry.members)
	case had:
		delete(v.filters, c.entry.filter)
		v.hash ^= entryHash(c.entry.filter)
		r.trie.Unsubscribe(c.entry.filter, peer)
	}
	v.version = c.version
}

// beginSnapshot starts collecting a snapshot of peer's routes.
func (r *remoteRoutes) beginSnapshot(peer string) {
	r.mu.Lock()
	r.view(peer).snap = make(map[string]uint64)
	r.mu.Unlock()
}

// snapshotEntry adds one entry to the snapshot being collected; false when
// none is (a protocol error of the peer).
func (r *remoteRoutes) snapshotEntry(peer string, e routeEntry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view(peer)
	if v.snap == nil {
		return false
	}
	v.snap[e.filter] = e.members
	return true
}

// endSnapshot replaces peer's routes by the collected snapshot; false when
// none was being collected.
func (r *remoteRoutes) endSnapshot(peer string, version uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view(peer)
	if v.snap == nil {
		return false
	}
	for f := range v.filters {
		if _, keep := v.snap[f]; !keep {
			r.trie.Unsubscribe(f, peer)
		}
	}
	var h uint64
	for f, members := range v.snap {
		if old, had := v.filters[f]; !had || old != members {
			r.trie.Subscribe(f, peer, members)
		}
		h ^= entryHash(f)
	}
	v.filters, v.snap, v.hash, v.version, v.behind = v.snap, nil, h, version, 0
	return true
}

// drop forgets every route of peer; the number dropped.
func (r *remoteRoutes) drop(peer string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.peers[peer]
	if v == nil {
		return 0
	}
	for f := range v.filters {
		r.trie.Unsubscribe(f, peer)
	}
	delete(r.peers, peer)
	return len(v.filters)
}

// check compares peer's view with the digest the peer gossips and reports
// whether it needs a resync: same version but another hash, or a version
// still older than one seen at the previous check.
func (r *remoteRoutes) check(peer string, d digest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.view(peer)
	if v.snap != nil {
		return false // a snapshot is on its way
	}
	switch {
	case v.version == d.Version:
		v.behind = 0
		return v.hash != d.Hash
	case v.version > d.Version: // the digest is older than the link
		v.behind = 0
		return false
	case v.behind != 0 && v.version < v.behind:
		v.behind = d.Version
		return true
	default:
		v.behind = d.Version
		return false
	}
}
