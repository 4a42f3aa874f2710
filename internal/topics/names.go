package topics

import "strings"

// nameNode is one level of a tree of topic names, each holding a value: the
// store behind Retained and the index of a Trie's match cache. It is not safe
// for concurrent use; its owner's lock guards it.
type nameNode[V any] struct {
	children map[string]*nameNode[V]
	topic    string // the full topic name, when set
	v        V
	set      bool
}

// nameItem is one value found by nameNode.match.
type nameItem[V any] struct {
	topic string
	v     V
}

// lookup returns the node for the topic name, or nil.
func (n *nameNode[V]) lookup(topic string) *nameNode[V] {
	for rest, more := topic, true; more && n != nil; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		n = n.children[tok]
	}
	return n
}

// put stores v for the topic name and reports whether it replaced a value
// and how many nodes it created. put keeps topic, and its levels as keys, so
// the caller must copy a topic that aliases a buffer.
func (n *nameNode[V]) put(topic string, v V) (replaced bool, created int) {
	for rest, more := topic, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		c := n.children[tok]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*nameNode[V])
			}
			c = &nameNode[V]{}
			n.children[tok] = c
			created++
		}
		n = c
	}
	replaced = n.set
	n.topic, n.v, n.set = topic, v, true
	return replaced, created
}

// remove drops the value for the topic name and reports whether there was one
// and how many nodes it pruned (nodes left with no value and no children).
func (n *nameNode[V]) remove(topic string) (removed bool, pruned int) {
	var pathBuf [maxStackLevels]*nameNode[V]
	var tokBuf [maxStackLevels]string
	path, toks := pathBuf[:0], tokBuf[:0] // path[i] is the parent of the node for toks[i]
	for rest, more := topic, true; more; {
		var tok string
		tok, rest, more = strings.Cut(rest, "/")
		c := n.children[tok]
		if c == nil {
			return false, 0
		}
		path, toks = append(path, n), append(toks, tok)
		n = c
	}
	if !n.set {
		return false, 0
	}
	var zero V
	n.topic, n.v, n.set = "", zero, false
	for i := len(path) - 1; i >= 0 && !n.set && len(n.children) == 0; i-- {
		delete(path[i].children, toks[i])
		if len(path[i].children) == 0 {
			path[i].children = nil
		}
		pruned++
		n = path[i]
	}
	return true, pruned
}

// match appends to items the values under n whose topic names match the
// filter levels (what remains of the filter after the levels that led to n)
// and returns it. root is true at the top level, where a wildcard does not
// match a name starting with '$' [MQTT-4.7.1-1].
func (n *nameNode[V]) match(levels []string, root bool, items []nameItem[V]) []nameItem[V] {
	for {
		if len(levels) == 0 {
			if n.set {
				items = append(items, nameItem[V]{n.topic, n.v})
			}
			return items
		}
		switch levels[0] {
		case "#":
			if len(levels) > 1 {
				return items // '#' not last: matches nothing
			}
			if n.set { // the parent level [MQTT-4.7.1-2]
				items = append(items, nameItem[V]{n.topic, n.v})
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

// all appends every value at or under n to items and returns it.
func (n *nameNode[V]) all(items []nameItem[V]) []nameItem[V] {
	if n.set {
		items = append(items, nameItem[V]{n.topic, n.v})
	}
	for _, c := range n.children {
		items = c.all(items)
	}
	return items
}
