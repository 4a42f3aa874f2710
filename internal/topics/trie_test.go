package topics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// describe renders r as sorted strings: "key=value" for plain subscriptions
// and "$share/name/filter[key=value ...]" for groups.
func describe[K comparable, V any](r *Result[K, V]) []string {
	var out []string
	for _, e := range r.Subs {
		out = append(out, fmt.Sprintf("%v=%v", e.Key, e.Value))
	}
	for _, g := range r.Groups {
		var ms []string
		for _, m := range g.Members() {
			ms = append(ms, fmt.Sprintf("%v=%v", m.Key, m.Value))
		}
		slices.Sort(ms)
		out = append(out, fmt.Sprintf("$share/%s/%s%v", g.Name, g.Filter, ms))
	}
	slices.Sort(out)
	return out
}

func TestTrieMatch(t *testing.T) {
	t.Parallel()
	subs := []struct{ filter, key string }{
		{"a/b", "c1"},
		{"a/+", "c1"}, // overlaps a/b for the same key
		{"a/#", "c1"},
		{"a/#", "c2"},
		{"#", "c3"},
		{"+", "c4"},
		{"+/+", "c5"},
		{"a//b", "c6"},
		{"a/+/b", "c7"},
		{"$SYS/#", "c8"},
		{"$SYS/+", "c9"},
		{"+/x", "c10"},
		{"$share/g1/a/+", "c11"},
		{"$share/g1/a/+", "c12"},
		{"$share/g2/a/+", "c13"},
		{"$share/g1/a/#", "c14"},
		{"$share/g1/#", "c15"},
		{"#/a", "c16"},              // invalid: never matches
		{"$share/g", "c17"},         // no inner filter: a plain literal filter
		{"", "c18"},                 // one empty level
		{"x/y/z", "c19"},            // unrelated
		{"a/b/c/d/e/f/+", "c20"},    // deep
		{"$share/g3/$SYS/#", "c21"}, // shared on a '$' topic
	}
	tr := New[string, int]()
	for i, s := range subs {
		if !tr.Subscribe(s.filter, s.key, i) {
			t.Fatalf("Subscribe(%q, %q) = false, want true", s.filter, s.key)
		}
	}
	if got := tr.Len(); got != len(subs) {
		t.Fatalf("Len() = %d, want %d", got, len(subs))
	}
	for _, tc := range []struct {
		topic string
		want  []string
	}{
		{"a/b", []string{"$share/g1/#[c15=16]", "$share/g1/a/#[c14=15]", "$share/g1/a/+[c11=12 c12=13]", "$share/g2/a/+[c13=14]", "c1=0", "c1=1", "c1=2", "c2=3", "c3=4", "c5=6"}},
		{"a", []string{"$share/g1/#[c15=16]", "$share/g1/a/#[c14=15]", "c1=2", "c2=3", "c3=4", "c4=5"}},
		{"a/", []string{"$share/g1/#[c15=16]", "$share/g1/a/#[c14=15]", "$share/g1/a/+[c11=12 c12=13]", "$share/g2/a/+[c13=14]", "c1=1", "c1=2", "c2=3", "c3=4", "c5=6"}},
		{"a//b", []string{"$share/g1/#[c15=16]", "$share/g1/a/#[c14=15]", "c1=2", "c2=3", "c3=4", "c6=7", "c7=8"}},
		{"b/x", []string{"$share/g1/#[c15=16]", "c10=11", "c3=4", "c5=6"}},
		{"$SYS/x", []string{"$share/g3/$SYS/#[c21=22]", "c8=9", "c9=10"}},
		{"$SYS", []string{"$share/g3/$SYS/#[c21=22]", "c8=9"}},
		{"$other/x", nil},
		{"x/a", []string{"$share/g1/#[c15=16]", "c3=4", "c5=6"}},
		{"$share/g", []string{"c17=18"}},
		{"", []string{"$share/g1/#[c15=16]", "c18=19", "c3=4", "c4=5"}},
		{"a/b/c/d/e/f/g", []string{"$share/g1/#[c15=16]", "$share/g1/a/#[c14=15]", "c1=2", "c20=21", "c2=3", "c3=4"}},
		{"a/b/c/d/e/f/g/h", []string{"$share/g1/#[c15=16]", "$share/g1/a/#[c14=15]", "c1=2", "c2=3", "c3=4"}},
	} {
		for range 2 { // uncached, then cached
			if got := describe(tr.Match(tc.topic)); !slices.Equal(got, tc.want) {
				t.Errorf("Match(%q) = %q, want %q", tc.topic, got, tc.want)
			}
		}
	}
}

func TestTrieManyLevels(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	levels := make([]string, 150)
	for i := range levels {
		levels[i] = fmt.Sprint(i % 7)
	}
	topic := strings.Join(levels, "/")
	plus := slices.Clone(levels)
	for i := 0; i < len(plus); i += 3 {
		plus[i] = "+"
	}
	tr.Subscribe(topic, "exact", 0)
	tr.Subscribe(strings.Join(plus, "/"), "plus", 0)
	tr.Subscribe(strings.Join(levels[:100], "/")+"/#", "hash", 0)
	tr.Subscribe(strings.Join(levels, "/")+"/#", "parent", 0)
	tr.Subscribe(strings.Join(levels[:149], "/"), "short", 0)
	want := []string{"exact=0", "hash=0", "parent=0", "plus=0"}
	if got := describe(tr.Match(topic)); !slices.Equal(got, want) {
		t.Errorf("Match(150 levels) = %q, want %q", got, want)
	}
	for _, s := range []struct{ f, k string }{
		{topic, "exact"},
		{strings.Join(plus, "/"), "plus"},
		{strings.Join(levels[:100], "/") + "/#", "hash"},
		{strings.Join(levels, "/") + "/#", "parent"},
		{strings.Join(levels[:149], "/"), "short"},
	} {
		if !tr.Unsubscribe(s.f, s.k) {
			t.Errorf("Unsubscribe(%s) = false", s.k)
		}
	}
	assertEmpty(t, tr)
}

// assertEmpty checks that tr holds nothing: no subscriptions, no nodes.
func assertEmpty[K comparable, V any](t *testing.T, tr *Trie[K, V]) {
	t.Helper()
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	if tr.count != 0 || tr.nodes != 0 || !tr.root.empty() {
		t.Errorf("trie not empty: count %d, nodes %d, root %+v", tr.count, tr.nodes, tr.root)
	}
}

// checkCache checks that the cache index holds exactly the cached topics.
func checkCache[K comparable, V any](t *testing.T, tr *Trie[K, V]) {
	t.Helper()
	tr.mu.RLock()
	defer tr.mu.RUnlock()
	var indexed, cached []string
	for _, it := range tr.cache.index.all(nil) {
		indexed = append(indexed, it.topic)
	}
	for k := range tr.cache.results {
		cached = append(cached, k)
	}
	slices.Sort(indexed)
	slices.Sort(cached)
	if !slices.Equal(indexed, cached) {
		t.Errorf("cache index %q, cached topics %q", indexed, cached)
	}
	if len(cached) > tr.cache.size {
		t.Errorf("cache holds %d entries, size %d", len(cached), tr.cache.size)
	}
}

func TestTrieSubscribeReplace(t *testing.T) {
	t.Parallel()
	tr := New[string, string]()
	if !tr.Subscribe("a/+", "c", "qos0") {
		t.Fatal("first Subscribe = false")
	}
	before := tr.Match("a/b")
	if tr.Subscribe("a/+", "c", "qos1") {
		t.Fatal("second Subscribe to the same filter = true, want false (replace)")
	}
	if got, want := describe(tr.Match("a/b")), []string{"c=qos1"}; !slices.Equal(got, want) {
		t.Errorf("after replace Match = %q, want %q", got, want)
	}
	if got, want := describe(before), []string{"c=qos0"}; !slices.Equal(got, want) {
		t.Errorf("earlier Result changed to %q, want %q", got, want)
	}
	if !tr.Subscribe("$share/g/a/+", "c", "s0") || tr.Subscribe("$share/g/a/+", "c", "s1") {
		t.Error("shared Subscribe: want added then replaced")
	}
	if !tr.Subscribe("$share/h/a/+", "c", "h0") {
		t.Error("same key in a second group: want added")
	}
	if got := tr.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
	}
	if got, want := describe(tr.Match("a/b")), []string{"$share/g/a/+[c=s1]", "$share/h/a/+[c=h0]", "c=qos1"}; !slices.Equal(got, want) {
		t.Errorf("Match = %q, want %q", got, want)
	}
}

func TestTrieUnsubscribe(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	tr.Subscribe("a/b", "c1", 1)
	tr.Subscribe("a/b", "c2", 2)
	tr.Subscribe("$share/g/a/b", "c1", 3)
	for _, tc := range []struct {
		filter, key string
		want        bool
	}{
		{"a/c", "c1", false},
		{"a", "c1", false},
		{"a/b/c", "c1", false},
		{"a/b", "c3", false},
		{"$share/h/a/b", "c1", false},
		{"$share/g/a/b", "c2", false},
		{"$share/g/a/b", "c1", true},
		{"$share/g/a/b", "c1", false},
		{"a/b", "c1", true},
		{"a/b", "c1", false},
	} {
		if got := tr.Unsubscribe(tc.filter, tc.key); got != tc.want {
			t.Errorf("Unsubscribe(%q, %q) = %v, want %v", tc.filter, tc.key, got, tc.want)
		}
	}
	if got, want := describe(tr.Match("a/b")), []string{"c2=2"}; !slices.Equal(got, want) {
		t.Errorf("Match = %q, want %q", got, want)
	}
	tr.Unsubscribe("a/b", "c2")
	assertEmpty(t, tr)
	if r := tr.Match("a/b"); r != tr.empty {
		t.Errorf("Match on an empty trie = %+v, want the shared empty Result", r)
	}
}

func TestTriePrune(t *testing.T) {
	t.Parallel()
	filters := []string{"a", "a/b", "a/b/c", "a/+/c", "a/#", "+", "#", "+/+/#", "//", "a//", "$SYS/#", "#/x", "x/#/y"}
	tr := New[int, int]()
	for key := range 40 {
		for _, f := range filters {
			tr.Subscribe(f, key, 0)
			tr.Subscribe("$share/g"+fmt.Sprint(key%3)+"/"+f, key, 0)
		}
	}
	if got, want := tr.Len(), 40*2*len(filters); got != want {
		t.Fatalf("Len() = %d, want %d", got, want)
	}
	tr.Match("a/b/c") // fill the cache
	for key := range 40 {
		for _, f := range slices.Backward(filters) {
			if !tr.Unsubscribe(f, key) || !tr.Unsubscribe("$share/g"+fmt.Sprint(key%3)+"/"+f, key) {
				t.Fatalf("Unsubscribe(%q, %d) = false", f, key)
			}
		}
	}
	assertEmpty(t, tr)
	if got := tr.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
	if r := tr.Match("a/b/c"); len(r.Subs)+len(r.Groups) != 0 {
		t.Errorf("Match after pruning = %+v, want empty", r)
	}
}

func TestTrieEmptyShared(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	if r := tr.Match("a"); r != tr.Match("b") || r.Subs != nil || r.Groups != nil {
		t.Error("empty results do not share one empty value")
	}
	tr.Subscribe("x", "c", 0)
	if tr.Match("a") != tr.Match("y") {
		t.Error("empty results do not share one value after a Subscribe")
	}
}

func TestResultIsSnapshot(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 16} {
		tr := New[string, int](WithCacheSize(size))
		tr.Subscribe("a/+", "c1", 1)
		tr.Subscribe("a/b", "c2", 2)
		tr.Subscribe("$share/g/a/b", "m1", 3)
		r := tr.Match("a/b")
		want := describe(r)
		g := r.Groups[0]
		members := g.Members()
		tr.Unsubscribe("a/+", "c1")
		tr.Subscribe("a/b", "c3", 4)
		tr.Subscribe("a/b", "c2", 5)
		tr.Subscribe("$share/g/a/b", "m2", 6)
		tr.Subscribe("$share/g/a/b", "m1", 7)
		if got := describe(&Result[string, int]{Subs: r.Subs}); !slices.Equal(got, []string{"c1=1", "c2=2"}) {
			t.Errorf("cache %d: old Result's Subs changed to %q", size, got)
		}
		if len(r.Groups) != 1 || r.Groups[0] != g {
			t.Errorf("cache %d: old Result's Groups changed", size)
		}
		if !slices.Equal(members, []Entry[string, int]{{"m1", 3}}) {
			t.Errorf("cache %d: old Members snapshot changed to %v", size, members)
		}
		if got := describe(tr.Match("a/b")); slices.Equal(got, want) {
			t.Errorf("cache %d: Match after changes still %q", size, got)
		}
		if got, want := g.Members(), []Entry[string, int]{{"m1", 7}, {"m2", 6}}; !slices.Equal(got, want) {
			t.Errorf("cache %d: Members() = %v, want %v", size, got, want)
		}
		tr.Unsubscribe("$share/g/a/b", "m1")
		tr.Unsubscribe("$share/g/a/b", "m2")
		if len(g.Members()) != 0 {
			t.Errorf("cache %d: dropped group still has members %v", size, g.Members())
		}
		if got := tr.Match("a/b"); len(got.Groups) != 0 {
			t.Errorf("cache %d: Match still lists the dropped group", size)
		}
	}
}

func TestGroupNext(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	tr.Subscribe("$share/g/t", "a", 0)
	tr.Subscribe("$share/g/t", "b", 0)
	g := tr.Match("t").Groups[0]
	var got []string
	for range 5 {
		m := g.Members()
		got = append(got, m[g.Next()%uint32(len(m))].Key)
	}
	if want := []string{"a", "b", "a", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("round robin = %q, want %q", got, want)
	}
}

func TestTrieCacheInvalidation(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	for _, topic := range []string{"a/b", "a/c", "x/y", "$SYS/x"} {
		tr.Match(topic)
	}
	g := tr.Generation()
	steps := []struct {
		op     func()
		topic  string
		want   []string
		cached []string // topics still cached afterwards
	}{
		{func() { tr.Subscribe("a/b", "c1", 1) }, "a/b", []string{"c1=1"}, []string{"a/c", "x/y", "$SYS/x"}},
		{func() { tr.Subscribe("a/+", "c2", 2) }, "a/c", []string{"c2=2"}, []string{"x/y", "$SYS/x"}},
		{func() { tr.Subscribe("#", "c3", 3) }, "x/y", []string{"c3=3"}, []string{"$SYS/x"}},
		{func() { tr.Subscribe("$share/s/x/+", "c4", 4) }, "x/y", []string{"$share/s/x/+[c4=4]", "c3=3"}, []string{"a/b", "a/c", "$SYS/x"}},
		{func() { tr.Unsubscribe("#", "c3") }, "a/b", []string{"c1=1", "c2=2"}, []string{"$SYS/x"}},
	}
	for i, s := range steps {
		for _, topic := range []string{"a/b", "a/c", "x/y", "$SYS/x"} {
			tr.Match(topic)
		}
		s.op()
		if ng := tr.Generation(); ng == g {
			t.Errorf("step %d: Generation unchanged", i)
		} else {
			g = ng
		}
		tr.mu.RLock()
		var cached []string
		for k := range tr.cache.results {
			cached = append(cached, k)
		}
		tr.mu.RUnlock()
		slices.Sort(cached)
		slices.Sort(s.cached)
		if !slices.Equal(cached, s.cached) {
			t.Errorf("step %d: cached %q, want %q", i, cached, s.cached)
		}
		checkCache(t, tr)
		if got := describe(tr.Match(s.topic)); !slices.Equal(got, s.want) {
			t.Errorf("step %d: Match(%q) = %q, want %q", i, s.topic, got, s.want)
		}
	}
	if tr.Unsubscribe("nothing", "c1"); tr.Generation() != g {
		t.Error("Generation changed on an Unsubscribe that removed nothing")
	}
}

func TestTrieCacheBounded(t *testing.T) {
	t.Parallel()
	tr := New[string, int](WithCacheSize(8))
	tr.Subscribe("#", "c", 0)
	for i := range 100 {
		tr.Match(fmt.Sprint("t/", i))
		tr.mu.RLock()
		n := len(tr.cache.results)
		tr.mu.RUnlock()
		if n > 8 {
			t.Fatalf("cache holds %d entries, want at most 8", n)
		}
	}
	checkCache(t, tr)
	tr.Unsubscribe("#", "c")
	checkCache(t, tr)
	tr.mu.RLock()
	if len(tr.cache.results) != 0 || len(tr.cache.index.children) != 0 {
		t.Errorf("Unsubscribe(#) left %d cached results and %d index children", len(tr.cache.results), len(tr.cache.index.children))
	}
	tr.mu.RUnlock()
	off := New[string, int](WithConfig(Config{}))
	off.Match("a")
	if off.cache.results != nil {
		t.Error("CacheSize 0 still caches")
	}
	if err := (Config{CacheSize: -1}).Validate(); err != ErrCacheSize {
		t.Errorf("Validate(-1) = %v, want ErrCacheSize", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	if neg := New[string, int](WithCacheSize(-1)); neg.cache.size != 0 {
		t.Errorf("negative CacheSize kept as %d", neg.cache.size)
	}
}

func TestTrieCacheCopiesTopic(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	tr.Subscribe("a/+", "c", 0)
	buf := []byte("a/b")
	tr.Match(unsafe.String(&buf[0], len(buf))) // aliases buf, like a network buffer
	copy(buf, "x/y")
	tr.mu.RLock()
	_, ok := tr.cache.results["a/b"]
	tr.mu.RUnlock()
	if !ok {
		t.Fatal("cache key changed with the caller's buffer")
	}
	if got := describe(tr.Match("a/b")); !slices.Equal(got, []string{"c=0"}) {
		t.Errorf("Match(a/b) = %q", got)
	}
}

func TestTrieSubscribeCopiesFilter(t *testing.T) {
	t.Parallel()
	tr := New[string, int]()
	buf := []byte("$share/g/a/b")
	tr.Subscribe(unsafe.String(&buf[0], len(buf)), "c", 0)
	copy(buf, "$share/h/x/y")
	r := tr.Match("a/b")
	if len(r.Groups) != 1 || r.Groups[0].Name != "g" || r.Groups[0].Filter != "a/b" {
		t.Errorf("Match(a/b) after reusing the filter buffer = %q", describe(r))
	}
}

func TestTrieConcurrent(t *testing.T) {
	t.Parallel()
	tr := New[int, int](WithCacheSize(64))
	filters := []string{"a/b", "a/+", "a/#", "+/b", "#", "$share/g/a/b", "$share/g/+/+", "c/d"}
	topics := []string{"a/b", "a/c", "c/d", "a", "x/b"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				f := filters[(i+w)%len(filters)]
				tr.Subscribe(f, w, i)
				if i%3 == 0 {
					tr.Unsubscribe(f, w)
				}
			}
		})
	}
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				r := tr.Match(topics[(i+w)%len(topics)])
				for _, g := range r.Groups {
					if m := g.Members(); len(m) > 0 {
						_ = m[g.Next()%uint32(len(m))]
					}
				}
				_ = tr.Len()
				_ = tr.Generation()
			}
		})
	}
	wg.Wait()
	checkCache(t, tr)
	// The cache must agree with a fresh computation after all that churn.
	for _, topic := range topics {
		got := describe(tr.Match(topic))
		tr.mu.RLock()
		want := describe(tr.match(topic))
		tr.mu.RUnlock()
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %q, fresh match %q", topic, got, want)
		}
	}
}

func TestTrieMatchAllocs(t *testing.T) {
	tr := New[string, int]()
	uncached := New[string, int](WithCacheSize(0))
	for _, x := range []*Trie[string, int]{tr, uncached} {
		x.Subscribe("a/+/c", "c1", 0)
		x.Subscribe("a/#", "c2", 0)
		x.Subscribe("$share/g/a/b/+", "c3", 0)
	}
	topic := "a/b/c"
	tr.Match(topic)
	if n := testing.AllocsPerRun(100, func() { tr.Match(topic) }); n != 0 {
		t.Errorf("cached Match allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { tr.Match("nothing/here") }); n != 0 {
		t.Errorf("cached empty Match allocates %v times, want 0", n)
	}
	// Uncached: the Result, its Subs and its Groups.
	if n := testing.AllocsPerRun(100, func() { uncached.Match(topic) }); n > 3 {
		t.Errorf("uncached Match allocates %v times, want at most 3", n)
	}
	if n := testing.AllocsPerRun(100, func() { uncached.Match("nothing/here") }); n != 0 {
		t.Errorf("uncached empty Match allocates %v times, want 0", n)
	}
}
