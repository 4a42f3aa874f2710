package topics

import (
	"strings"
	"sync"
)

// Retained stores one value per topic name (the retained messages of one
// broker instance) and finds the values whose topic names match a filter. It
// is safe for concurrent use; all state sits under one RWMutex.
type Retained[V any] struct {
	mu    sync.RWMutex
	root  retainedNode[V]
	count int // values stored
	nodes int // nodes below the root
}

// retainedNode is one level of a Retained tree. Guarded by Retained.mu.
type retainedNode[V any] struct {
	children map[string]*retainedNode[V]
	topic    string // the full topic name, when set
	v        V
	set      bool
}

// retainedItem is one value found by Match.
type retainedItem[V any] struct {
	topic string
	v     V
}

// NewRetained returns an empty Retained store.
func NewRetained[V any]() *Retained[V] {
	return &Retained[V]{}
}

// Set stores v for the topic name, replacing any previous value, and reports
// whether one was replaced. Set copies topic and keeps v. It takes the write
// lock.
func (r *Retained[V]) Set(topic string, v V) (replaced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	for rest, more := topic, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		c := n.children[tok]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*retainedNode[V])
			}
			c = &retainedNode[V]{}
			n.children[strings.Clone(tok)] = c
			r.nodes++
		}
		n = c
	}
	replaced = n.set
	if !replaced {
		n.topic, n.set = strings.Clone(topic), true
		r.count++
	}
	n.v = v
	return replaced
}

// Delete removes the value for the topic name and reports whether there was
// one. Nodes left empty are pruned. It takes the write lock.
func (r *Retained[V]) Delete(topic string) (deleted bool) {
	var pathBuf [maxStackLevels]*retainedNode[V]
	var tokBuf [maxStackLevels]string
	path, toks := pathBuf[:0], tokBuf[:0] // path[i] is the parent of the node for toks[i]
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.root
	for rest, more := topic, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		c := n.children[tok]
		if c == nil {
			return false
		}
		path, toks = append(path, n), append(toks, tok)
		n = c
	}
	if !n.set {
		return false
	}
	var zero V
	n.topic, n.v, n.set = "", zero, false
	r.count--
	for i := len(path) - 1; i >= 0 && !n.set && len(n.children) == 0; i-- {
		delete(path[i].children, toks[i])
		if len(path[i].children) == 0 {
			path[i].children = nil
		}
		r.nodes--
		n = path[i]
	}
	return true
}

// Get returns the value stored for the topic name. It takes the read lock.
func (r *Retained[V]) Get(topic string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := &r.root
	for rest, more := topic, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		if n = n.children[tok]; n == nil {
			var zero V
			return zero, false
		}
	}
	return n.v, n.set
}

// Match calls fn for each stored topic name that matches filter, in no
// particular order, until fn returns false. It collects the matches under the
// read lock and calls fn after releasing it, so fn may call Set or Delete; fn
// sees the values as they were when Match began. filter must not carry a
// $share prefix.
func (r *Retained[V]) Match(filter string, fn func(topic string, v V) bool) {
	var levelBuf [maxStackLevels]string
	levels := split(filter, levelBuf[:0])
	r.mu.RLock()
	items := r.root.match(levels, true, nil)
	r.mu.RUnlock()
	for _, it := range items {
		if !fn(it.topic, it.v) {
			return
		}
	}
}

// Len returns the number of stored values. It takes the read lock.
func (r *Retained[V]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.count
}

// match appends to items the values under n whose topic names match the
// filter levels (what remains of the filter after the levels that led to n).
// root is true at the top level, where a wildcard does not match a name
// starting with '$' [MQTT-4.7.1-1]. Caller holds Retained.mu.
func (n *retainedNode[V]) match(levels []string, root bool, items []retainedItem[V]) []retainedItem[V] {
	for {
		if len(levels) == 0 {
			if n.set {
				items = append(items, retainedItem[V]{n.topic, n.v})
			}
			return items
		}
		switch levels[0] {
		case "#":
			if len(levels) > 1 {
				return items // '#' not last: matches nothing
			}
			if n.set { // the parent level [MQTT-4.7.1-2]
				items = append(items, retainedItem[V]{n.topic, n.v})
			}
			for tok, c := range n.children {
				if !root || !strings.HasPrefix(tok, "$") {
					items = c.all(items)
				}
			}
			return items
		case "+":
			for tok, c := range n.children {
				if !root || !strings.HasPrefix(tok, "$") {
					items = c.match(levels[1:], false, items)
				}
			}
			return items
		}
		if n = n.children[levels[0]]; n == nil {
			return items
		}
		levels, root = levels[1:], false
	}
}

// all appends every value at or under n to items. Caller holds Retained.mu.
func (n *retainedNode[V]) all(items []retainedItem[V]) []retainedItem[V] {
	if n.set {
		items = append(items, retainedItem[V]{n.topic, n.v})
	}
	for _, c := range n.children {
		items = c.all(items)
	}
	return items
}
