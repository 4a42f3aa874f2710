package topics

import "sync/atomic"

// Entry is one subscription: who subscribed (Key) and with which options
// (Value).
type Entry[K comparable, V any] struct {
	Key   K // the subscriber
	Value V // its subscription options
}

// Result is what a topic name matches. A Result is an immutable snapshot
// shared between callers (and with the Trie's cache): callers must never
// modify it or its slices, and later Subscribe or Unsubscribe calls never
// change it.
type Result[K comparable, V any] struct {
	// Subs are the plain subscriptions whose filter matches, in no particular
	// order. The same Key appears once per matching filter, so a client with
	// overlapping subscriptions appears more than once.
	Subs []Entry[K, V]
	// Groups are the shared subscription groups whose filter matches, in no
	// particular order. Deliver to one member of each (see Group.Next); a
	// group may have lost all its members by the time it is used.
	Groups []*Group[K, V]
}

// Group is a shared subscription group "$share/{Name}/{Filter}". Groups are
// created and changed only by the Trie; a Group held in a Result stays valid
// after it is emptied and dropped from the Trie, with no members.
type Group[K comparable, V any] struct {
	// Name is the share name. Read-only.
	Name string
	// Filter is the topic filter without the $share/{Name}/ prefix. Read-only.
	Filter string

	members atomic.Pointer[[]Entry[K, V]] // copy-on-write; written under Trie.mu
	next    atomic.Uint32
}

// Members returns the group's current members. The slice is a snapshot that is
// never modified after publication; callers must not modify it either. It is
// safe to call concurrently with anything and takes no lock.
func (g *Group[K, V]) Members() []Entry[K, V] {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

// Next returns a round-robin counter for choosing a member: 0 on the first
// call, then 1, 2, ... (wrapping), each call incrementing it atomically. Use
// Members()[g.Next()%uint32(len(members))].
func (g *Group[K, V]) Next() uint32 {
	return g.next.Add(1) - 1
}

// find returns the index of key among the members, or -1. Caller holds
// Trie.mu.
func (g *Group[K, V]) find(key K) int {
	for i, e := range g.Members() {
		if e.Key == key {
			return i
		}
	}
	return -1
}

// set adds key or replaces its value with a new copy of the members and
// reports whether key was added. Caller holds Trie.mu for writing.
func (g *Group[K, V]) set(key K, v V) (added bool) {
	old := g.Members()
	i := g.find(key)
	var s []Entry[K, V]
	if i < 0 {
		s = make([]Entry[K, V], len(old), len(old)+1)
		copy(s, old)
		s = append(s, Entry[K, V]{Key: key, Value: v})
	} else {
		s = make([]Entry[K, V], len(old))
		copy(s, old)
		s[i].Value = v
	}
	g.members.Store(&s)
	return i < 0
}

// remove drops key with a new copy of the members and reports whether it was
// a member. Caller holds Trie.mu for writing.
func (g *Group[K, V]) remove(key K) bool {
	old := g.Members()
	i := g.find(key)
	if i < 0 {
		return false
	}
	s := make([]Entry[K, V], 0, len(old)-1)
	s = append(s, old[:i]...)
	s = append(s, old[i+1:]...)
	g.members.Store(&s)
	return true
}
