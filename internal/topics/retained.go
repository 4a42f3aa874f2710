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
	root  nameNode[V]
	count int // values stored
	nodes int // nodes below the root
}

// NewRetained returns an empty Retained store.
func NewRetained[V any]() *Retained[V] {
	return &Retained[V]{}
}

// Set stores v for the topic name, replacing any previous value, and reports
// whether one was replaced. Set copies topic and keeps v. It takes the write
// lock. Replacing a value allocates nothing.
func (r *Retained[V]) Set(topic string, v V) (replaced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.root.lookup(topic); n != nil && n.set {
		n.v = v
		return true
	}
	_, created := r.root.put(strings.Clone(topic), v)
	r.count++
	r.nodes += created
	return false
}

// Delete removes the value for the topic name and reports whether there was
// one. Nodes left empty are pruned. It takes the write lock.
func (r *Retained[V]) Delete(topic string) (deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	deleted, pruned := r.root.remove(topic)
	if deleted {
		r.count--
		r.nodes -= pruned
	}
	return deleted
}

// Swap is Set that also returns the value replaced, if any.
func (r *Retained[V]) Swap(topic string, v V) (old V, replaced bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.root.lookup(topic); n != nil && n.set {
		old, n.v = n.v, v
		return old, true
	}
	_, created := r.root.put(strings.Clone(topic), v)
	r.count++
	r.nodes += created
	return old, false
}

// Take is Delete that also returns the value removed, if any.
func (r *Retained[V]) Take(topic string) (old V, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.root.lookup(topic)
	if n == nil || !n.set {
		return old, false
	}
	old = n.v
	_, pruned := r.root.remove(topic)
	r.count--
	r.nodes -= pruned
	return old, true
}

// Get returns the value stored for the topic name. It takes the read lock.
func (r *Retained[V]) Get(topic string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if n := r.root.lookup(topic); n != nil && n.set {
		return n.v, true
	}
	var zero V
	return zero, false
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
