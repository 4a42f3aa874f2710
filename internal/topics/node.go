package topics

import "strings"

// indexThreshold is how many plain subscriptions a node holds before it keeps
// a map from key to position instead of searching linearly.
const indexThreshold = 16

// node is one level of a Trie. All fields are guarded by Trie.mu.
type node[K comparable, V any] struct {
	lits   map[string]*node[K, V] // literal children by level
	plus   *node[K, V]            // '+' child
	hash   *node[K, V]            // '#' child
	subs   []Entry[K, V]          // plain subscriptions to this node's filter
	index  map[K]int              // position in subs; nil below indexThreshold
	groups []*Group[K, V]         // shared groups on this node's filter
}

// child returns the child for the filter level tok, or nil.
func (n *node[K, V]) child(tok string) *node[K, V] {
	switch tok {
	case "+":
		return n.plus
	case "#":
		return n.hash
	}
	return n.lits[tok]
}

// addChild creates the child for the filter level tok, which must not exist.
// It copies tok, which may alias a caller's buffer.
func (n *node[K, V]) addChild(tok string) *node[K, V] {
	c := &node[K, V]{}
	switch tok {
	case "+":
		n.plus = c
	case "#":
		n.hash = c
	default:
		if n.lits == nil {
			n.lits = make(map[string]*node[K, V])
		}
		n.lits[strings.Clone(tok)] = c
	}
	return c
}

// removeChild drops the child for the filter level tok.
func (n *node[K, V]) removeChild(tok string) {
	switch tok {
	case "+":
		n.plus = nil
	case "#":
		n.hash = nil
	default:
		delete(n.lits, tok)
		if len(n.lits) == 0 {
			n.lits = nil
		}
	}
}

// empty reports whether n holds nothing and may be pruned.
func (n *node[K, V]) empty() bool {
	return len(n.subs) == 0 && len(n.groups) == 0 && len(n.lits) == 0 && n.plus == nil && n.hash == nil
}

// find returns the position of key in n.subs, or -1.
func (n *node[K, V]) find(key K) int {
	if n.index != nil {
		if i, ok := n.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].Key == key {
			return i
		}
	}
	return -1
}

// setSub adds a plain subscription for key or replaces its value, and
// reports whether it was added.
func (n *node[K, V]) setSub(key K, v V) (added bool) {
	if i := n.find(key); i >= 0 {
		n.subs[i].Value = v
		return false
	}
	n.subs = append(n.subs, Entry[K, V]{Key: key, Value: v})
	switch {
	case n.index != nil:
		n.index[key] = len(n.subs) - 1
	case len(n.subs) > indexThreshold:
		n.index = make(map[K]int, len(n.subs))
		for i := range n.subs {
			n.index[n.subs[i].Key] = i
		}
	}
	return true
}

// removeSub drops the plain subscription of key and reports whether there
// was one. The last entry takes the freed position.
func (n *node[K, V]) removeSub(key K) bool {
	i := n.find(key)
	if i < 0 {
		return false
	}
	last := len(n.subs) - 1
	if n.index != nil {
		delete(n.index, key)
		if i != last {
			n.index[n.subs[last].Key] = i
		}
	}
	n.subs[i] = n.subs[last]
	n.subs[last] = Entry[K, V]{} // drop references for the GC
	n.subs = n.subs[:last]
	if last == 0 {
		n.subs, n.index = nil, nil
	}
	return true
}

// group returns the shared group named name, or nil.
func (n *node[K, V]) group(name string) *Group[K, V] {
	for _, g := range n.groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// removeGroup drops g from n.groups.
func (n *node[K, V]) removeGroup(g *Group[K, V]) {
	for i, x := range n.groups {
		if x == g {
			last := len(n.groups) - 1
			n.groups[i] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			break
		}
	}
	if len(n.groups) == 0 {
		n.groups = nil
	}
}
