package topics

import "strings"

// matchCache keeps the Results of recent matches by topic name, bounded in
// size, with a tree of the cached names so that a subscription change drops
// only the Results its filter can affect, walking the tree as Retained.Match
// does. The tree costs a few allocations per cache miss and about 120 bytes
// per cached name; in exchange a wildcard Subscribe with 4096 cached names
// takes under a microsecond instead of the ~120µs a scan of every entry with
// MatchFilter took (nats' approach), all of it under the write lock, which
// mattered for connection storms. Guarded by Trie.mu: get needs the read
// lock, the other methods the write lock.
type matchCache[K comparable, V any] struct {
	results map[string]*Result[K, V] // nil when the cache is disabled
	index   nameNode[struct{}]       // the keys of results
	size    int                      // most entries kept; 0 disables
}

// newMatchCache returns a cache of at most size entries; 0 disables it.
func newMatchCache[K comparable, V any](size int) matchCache[K, V] {
	c := matchCache[K, V]{size: max(size, 0)}
	if c.size > 0 {
		c.results = make(map[string]*Result[K, V])
	}
	return c
}

// get returns the cached Result for topic. It allocates nothing.
func (c *matchCache[K, V]) get(topic string) (*Result[K, V], bool) {
	r, ok := c.results[topic]
	return r, ok
}

// store caches r as the Result for topic, first evicting about a quarter of
// the entries (at random) when the cache is full. It copies topic, which may
// alias a network buffer.
func (c *matchCache[K, V]) store(topic string, r *Result[K, V]) {
	if c.size == 0 {
		return
	}
	if _, ok := c.results[topic]; ok {
		return
	}
	if len(c.results) >= c.size {
		n := max(c.size/4, 1)
		for k := range c.results {
			c.drop(k)
			if n--; n == 0 {
				break
			}
		}
	}
	topic = strings.Clone(topic)
	c.results[topic] = r
	c.index.put(topic, struct{}{})
}

// invalidate drops the cached Results of every topic name filter matches.
func (c *matchCache[K, V]) invalidate(filter string) {
	if len(c.results) == 0 {
		return
	}
	if !hasWildcard(filter) { // a literal filter matches only itself
		if _, ok := c.results[filter]; ok {
			c.drop(filter)
		}
		return
	}
	var levelBuf [maxStackLevels]string
	for _, it := range c.index.match(split(filter, levelBuf[:0]), true, nil) {
		c.drop(it.topic)
	}
}

// drop removes the cached Result for topic.
func (c *matchCache[K, V]) drop(topic string) {
	delete(c.results, topic)
	c.index.remove(topic)
}
