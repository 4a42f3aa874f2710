package topics

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// retainedMatch returns "topic=value" for each match of filter, sorted.
func retainedMatch[V any](r *Retained[V], filter string) []string {
	var out []string
	r.Match(filter, func(topic string, v V) bool {
		out = append(out, fmt.Sprintf("%s=%v", topic, v))
		return true
	})
	slices.Sort(out)
	return out
}

// assertRetainedEmpty checks that r holds nothing: no values, no nodes.
func assertRetainedEmpty[V any](t *testing.T, r *Retained[V]) {
	t.Helper()
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.count != 0 || r.nodes != 0 || len(r.root.children) != 0 {
		t.Errorf("retained not empty: count %d, nodes %d, children %d", r.count, r.nodes, len(r.root.children))
	}
}

func TestRetainedSetGetDelete(t *testing.T) {
	t.Parallel()
	r := NewRetained[int]()
	if r.Set("a/b", 1) {
		t.Error("first Set reported a replace")
	}
	if !r.Set("a/b", 2) {
		t.Error("second Set did not report a replace")
	}
	r.Set("a", 3)
	r.Set("a//b", 4)
	r.Set("", 5)
	if got := r.Len(); got != 4 {
		t.Errorf("Len() = %d, want 4", got)
	}
	for _, tc := range []struct {
		topic string
		v     int
		ok    bool
	}{{"a/b", 2, true}, {"a", 3, true}, {"a//b", 4, true}, {"", 5, true}, {"a/", 0, false}, {"a/b/c", 0, false}, {"b", 0, false}} {
		if v, ok := r.Get(tc.topic); v != tc.v || ok != tc.ok {
			t.Errorf("Get(%q) = %v, %v; want %v, %v", tc.topic, v, ok, tc.v, tc.ok)
		}
	}
	for _, tc := range []struct {
		topic string
		want  bool
	}{{"a/", false}, {"a/b/c", false}, {"a", true}, {"a", false}, {"a/b", true}, {"a//b", true}, {"", true}, {"", false}} {
		if got := r.Delete(tc.topic); got != tc.want {
			t.Errorf("Delete(%q) = %v, want %v", tc.topic, got, tc.want)
		}
	}
	assertRetainedEmpty(t, r)
}

func TestRetainedSwapTake(t *testing.T) {
	t.Parallel()
	r := NewRetained[int]()
	if old, replaced := r.Swap("a/b", 1); replaced || old != 0 {
		t.Errorf("first Swap = %d, %v; want 0, false", old, replaced)
	}
	if old, replaced := r.Swap("a/b", 2); !replaced || old != 1 {
		t.Errorf("second Swap = %d, %v; want 1, true", old, replaced)
	}
	r.Swap("a", 3)
	if got := r.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	if old, ok := r.Take("a/b"); !ok || old != 2 {
		t.Errorf("Take(a/b) = %d, %v; want 2, true", old, ok)
	}
	if old, ok := r.Take("a/b"); ok || old != 0 {
		t.Errorf("second Take(a/b) = %d, %v; want 0, false", old, ok)
	}
	if _, ok := r.Take("a/b/c"); ok {
		t.Error("Take of a topic never set reported a value")
	}
	if old, ok := r.Take("a"); !ok || old != 3 {
		t.Errorf("Take(a) = %d, %v; want 3, true", old, ok)
	}
	assertRetainedEmpty(t, r)
}

func TestRetainedMatch(t *testing.T) {
	t.Parallel()
	r := NewRetained[int]()
	for i, topic := range []string{"a", "a/b", "a/c", "a/b/c", "a//b", "a/", "b/x", "$SYS/x", "$SYS", "x/$y", "/"} {
		r.Set(topic, i)
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"a/b=1"}},
		{"a/+", []string{"a/=5", "a/b=1", "a/c=2"}},
		{"a/#", []string{"a//b=4", "a/=5", "a/b/c=3", "a/b=1", "a/c=2", "a=0"}},
		{"a/+/b", []string{"a//b=4"}},
		{"+", []string{"a=0"}},
		{"+/+", []string{"/=10", "a/=5", "a/b=1", "a/c=2", "b/x=6", "x/$y=9"}},
		{"#", []string{"/=10", "a//b=4", "a/=5", "a/b/c=3", "a/b=1", "a/c=2", "a=0", "b/x=6", "x/$y=9"}},
		{"+/x", []string{"b/x=6"}},
		{"$SYS/#", []string{"$SYS/x=7", "$SYS=8"}},
		{"$SYS/+", []string{"$SYS/x=7"}},
		{"+/$y", []string{"x/$y=9"}},
		{"#/b", nil},
		{"nothing", nil},
	} {
		if got := retainedMatch(r, tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("Match(%q) = %q, want %q", tc.filter, got, tc.want)
		}
	}
}

func TestRetainedMatchStopAndReenter(t *testing.T) {
	t.Parallel()
	r := NewRetained[int]()
	for i := range 10 {
		r.Set(fmt.Sprint("t/", i), i)
	}
	calls := 0
	r.Match("t/+", func(topic string, v int) bool {
		calls++
		return calls < 3
	})
	if calls != 3 {
		t.Errorf("fn called %d times after returning false, want 3", calls)
	}
	// fn may change the store: Match holds no lock while calling it.
	r.Match("t/#", func(topic string, v int) bool {
		r.Delete(topic)
		r.Set("u/"+topic, v)
		return true
	})
	if got := len(retainedMatch(r, "t/#")); got != 0 {
		t.Errorf("%d t/ topics left, want 0", got)
	}
	if got := len(retainedMatch(r, "u/t/+")); got != 10 {
		t.Errorf("%d u/t/ topics, want 10", got)
	}
}

func TestRetainedManyLevels(t *testing.T) {
	t.Parallel()
	r := NewRetained[int]()
	topic := strings.Repeat("l/", 149) + "l"
	r.Set(topic, 1)
	r.Set(topic+"/x", 2)
	for _, tc := range []struct {
		filter string
		want   int
	}{
		{topic, 1},
		{strings.Repeat("+/", 149) + "+", 1},
		{strings.Repeat("l/", 100) + "#", 2},
		{topic + "/#", 2},
		{strings.Repeat("+/", 150) + "+", 1},
	} {
		if got := len(retainedMatch(r, tc.filter)); got != tc.want {
			t.Errorf("Match(%d levels) found %d, want %d", strings.Count(tc.filter, "/")+1, got, tc.want)
		}
	}
	if v, ok := r.Get(topic); !ok || v != 1 {
		t.Errorf("Get = %v, %v", v, ok)
	}
	r.Delete(topic + "/x")
	r.Delete(topic)
	assertRetainedEmpty(t, r)
}

func TestRetainedCopiesTopic(t *testing.T) {
	t.Parallel()
	r := NewRetained[int]()
	buf := []byte("a/b")
	r.Set(unsafe.String(&buf[0], len(buf)), 1)
	copy(buf, "x/y")
	if got := retainedMatch(r, "#"); !slices.Equal(got, []string{"a/b=1"}) {
		t.Errorf("after reusing the topic buffer Match(#) = %q", got)
	}
}

func TestRetainedAllocs(t *testing.T) {
	r := NewRetained[int]()
	r.Set("a/b/c", 1)
	if n := testing.AllocsPerRun(100, func() { r.Get("a/b/c") }); n != 0 {
		t.Errorf("Get allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { r.Set("a/b/c", 2) }); n != 0 {
		t.Errorf("replacing Set allocates %v times, want 0", n)
	}
}
