package topics

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Trie is the subscription tree of one broker instance: plain and shared
// subscriptions keyed by K (who subscribed) with options V. It is safe for
// concurrent use; all state sits under one RWMutex, and Match takes only the
// read lock when its result is cached. That lock is a leaf: no method calls
// out of the package or blocks on anything else while holding it.
type Trie[K comparable, V any] struct {
	mu    sync.RWMutex
	root  node[K, V]
	count int // plain subscriptions plus shared members
	nodes int // nodes below the root
	cache matchCache[K, V]
	empty *Result[K, V] // the one Result with nothing in it
	gen   atomic.Uint64 // written under mu, read anywhere
}

// New returns an empty Trie configured by DefaultConfig and then opts. A
// negative CacheSize is taken as 0 (no cache); Config.Validate rejects it.
func New[K comparable, V any](opts ...Option) *Trie[K, V] {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return &Trie[K, V]{
		cache: newMatchCache[K, V](cfg.CacheSize),
		empty: &Result[K, V]{},
	}
}

// Subscribe adds key's subscription to filter with options v, or replaces v
// if key already subscribes to exactly that filter, and reports whether it
// was added. A filter "$share/{group}/{filter}" adds key to that shared
// group. Subscribe copies filter; it keeps key and v. It takes the write lock.
func (t *Trie[K, V]) Subscribe(filter string, key K, v V) (added bool) {
	name, inner, shared := SplitShared(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for rest, more := inner, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		c := n.child(tok)
		if c == nil {
			c = n.addChild(tok)
			t.nodes++
		}
		n = c
	}
	if shared {
		g := n.group(name)
		if g == nil {
			g = &Group[K, V]{Name: strings.Clone(name), Filter: strings.Clone(inner)}
			n.groups = append(n.groups, g)
		}
		added = g.set(key, v)
	} else {
		added = n.setSub(key, v)
	}
	if added {
		t.count++
	}
	t.changed(inner)
	return added
}

// Unsubscribe removes key's subscription to filter (plain, or shared when
// filter is "$share/{group}/{filter}") and reports whether there was one.
// Nodes left empty are pruned and empty groups dropped. It takes the write
// lock.
func (t *Trie[K, V]) Unsubscribe(filter string, key K) (removed bool) {
	name, inner, shared := SplitShared(filter)
	var pathBuf [maxStackLevels]*node[K, V]
	var tokBuf [maxStackLevels]string
	path, toks := pathBuf[:0], tokBuf[:0] // path[i] is the parent of the node for toks[i]
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for rest, more := inner, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		c := n.child(tok)
		if c == nil {
			return false
		}
		path, toks = append(path, n), append(toks, tok)
		n = c
	}
	if shared {
		g := n.group(name)
		if g == nil || !g.remove(key) {
			return false
		}
		if len(g.Members()) == 0 {
			n.removeGroup(g)
		}
	} else if !n.removeSub(key) {
		return false
	}
	t.count--
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		path[i].removeChild(toks[i])
		t.nodes--
		n = path[i]
	}
	t.changed(inner)
	return true
}

// Match returns the subscriptions whose filters match the topic name. The
// Result is never nil, is shared (every empty Result of t is the same value),
// and must not be modified. Match does not keep topic (the cache stores a copy),
// takes the read lock, and on a cache miss briefly takes the write lock to
// fill the cache. A cached Match allocates nothing.
func (t *Trie[K, V]) Match(topic string) *Result[K, V] {
	t.mu.RLock()
	if r, ok := t.cache.get(topic); ok {
		t.mu.RUnlock()
		return r
	}
	r := t.match(topic)
	gen := t.gen.Load()
	t.mu.RUnlock()
	if t.cache.size > 0 {
		t.mu.Lock()
		if t.gen.Load() == gen { // else r may already be stale: do not cache it
			t.cache.store(topic, r)
		}
		t.mu.Unlock()
	}
	return r
}

// Len returns the number of subscriptions: plain ones plus the members of
// every shared group. It takes the read lock.
func (t *Trie[K, V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// Generation returns a counter that changes whenever a Subscribe or
// Unsubscribe changes the Trie. It backs per-connection caches: load the
// generation before calling Match, and the Result stays current for as long
// as Generation returns the same value. It takes no lock.
func (t *Trie[K, V]) Generation() uint64 {
	return t.gen.Load()
}

// match computes the Result for topic. Caller holds t.mu (read or write).
func (t *Trie[K, V]) match(topic string) *Result[K, V] {
	var tokBuf [maxStackLevels]string
	var foundBuf [16]*node[K, V]
	toks := split(topic, tokBuf[:0])
	found := foundBuf[:0]
	if toks[0] != "" && toks[0][0] == '$' {
		// A leading '+' or '#' does not match a '$' topic [MQTT-4.7.1-1].
		if c := t.root.lits[toks[0]]; c != nil {
			found = collect(c, toks[1:], found)
		}
	} else {
		found = collect(&t.root, toks, found)
	}
	nsubs, ngroups := 0, 0
	for _, n := range found {
		nsubs += len(n.subs)
		ngroups += len(n.groups)
	}
	if nsubs+ngroups == 0 {
		return t.empty
	}
	r := &Result[K, V]{}
	if nsubs > 0 {
		r.Subs = make([]Entry[K, V], 0, nsubs)
		for _, n := range found {
			r.Subs = append(r.Subs, n.subs...)
		}
	}
	if ngroups > 0 {
		r.Groups = make([]*Group[K, V], 0, ngroups)
		for _, n := range found {
			r.Groups = append(r.Groups, n.groups...)
		}
	}
	return r
}

// collect appends to found the nodes under n whose filters match the levels
// toks (what remains of the topic after the levels that led to n) and returns
// it. Caller holds the Trie's lock.
func collect[K comparable, V any](n *node[K, V], toks []string, found []*node[K, V]) []*node[K, V] {
	for {
		if n.hash != nil {
			// '#' matches any number of further levels, and also none: the
			// parent level [MQTT-4.7.1-2].
			found = appendHolding(found, n.hash)
		}
		if len(toks) == 0 {
			return appendHolding(found, n)
		}
		if n.plus != nil {
			found = collect(n.plus, toks[1:], found)
		}
		c := n.lits[toks[0]]
		if c == nil {
			return found
		}
		n, toks = c, toks[1:]
	}
}

// appendHolding appends n to found if it holds subscriptions.
func appendHolding[K comparable, V any](found []*node[K, V], n *node[K, V]) []*node[K, V] {
	if len(n.subs) == 0 && len(n.groups) == 0 {
		return found
	}
	return append(found, n)
}

// changed records a change to filter's subscriptions: it bumps the
// generation and drops the cached Results of the topic names filter matches.
// Caller holds t.mu for writing.
func (t *Trie[K, V]) changed(filter string) {
	t.gen.Add(1)
	t.cache.invalidate(filter)
}
