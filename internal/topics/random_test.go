package topics

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomLevels joins 1 to 5 levels drawn from alphabet.
func randomLevels(rng *rand.Rand, alphabet []string) string {
	levels := make([]string, 1+rng.IntN(5))
	for i := range levels {
		levels[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return strings.Join(levels, "/")
}

var (
	topicAlphabet  = []string{"a", "b", "c", "", "$s", "+x"}
	filterAlphabet = []string{"a", "b", "c", "", "$s", "+x", "+", "+", "#"}
)

// randomFilter returns a filter that usually ends in '#' only when it has one,
// sometimes with '#' elsewhere (invalid) and sometimes shared.
func randomFilter(rng *rand.Rand) string {
	f := randomLevels(rng, filterAlphabet)
	if rng.IntN(3) == 0 {
		f += "/#"
	}
	if rng.IntN(4) == 0 {
		f = fmt.Sprintf("$share/g%d/%s", rng.IntN(3), f)
	}
	return f
}

type subKey struct {
	filter string
	key    int
}

func compareSubKeys(a, b subKey) int {
	if c := strings.Compare(a.filter, b.filter); c != 0 {
		return c
	}
	return a.key - b.key
}

// bruteMatch computes describe(Match(topic)) from a model of the trie.
func bruteMatch(model map[subKey]int, topic string) []string {
	var out []string
	groups := map[string][]string{}
	for s, v := range model {
		name, inner, shared := SplitShared(s.filter)
		if !MatchFilter(inner, topic) {
			continue
		}
		if shared {
			g := "$share/" + name + "/" + inner
			groups[g] = append(groups[g], fmt.Sprintf("%d=%d", s.key, v))
		} else {
			out = append(out, fmt.Sprintf("%d=%d", s.key, v))
		}
	}
	for g, ms := range groups {
		slices.Sort(ms)
		out = append(out, fmt.Sprintf("%s%v", g, ms))
	}
	slices.Sort(out)
	return out
}

func TestTrieRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 1))
		tr := New[int, int](WithCacheSize(1 + rng.IntN(64)))
		model := map[subKey]int{}
		for step := range 3000 {
			switch op := rng.IntN(10); {
			case op < 4:
				s := subKey{randomFilter(rng), rng.IntN(8)}
				_, had := model[s]
				if added := tr.Subscribe(s.filter, s.key, step); added == had {
					t.Fatalf("seed %d step %d: Subscribe(%q, %d) = %v, model had it: %v", seed, step, s.filter, s.key, added, had)
				}
				model[s] = step
			case op < 8 && len(model) > 0:
				s := slices.SortedFunc(maps.Keys(model), compareSubKeys)[rng.IntN(len(model))]
				if !tr.Unsubscribe(s.filter, s.key) {
					t.Fatalf("seed %d step %d: Unsubscribe(%q, %d) = false", seed, step, s.filter, s.key)
				}
				delete(model, s)
			default:
				s := subKey{randomFilter(rng), rng.IntN(8)}
				_, had := model[s]
				if removed := tr.Unsubscribe(s.filter, s.key); removed != had {
					t.Fatalf("seed %d step %d: Unsubscribe(%q, %d) = %v, model had it: %v", seed, step, s.filter, s.key, removed, had)
				}
				delete(model, s)
			}
			for range 3 {
				topic := randomLevels(rng, topicAlphabet)
				if got, want := describe(tr.Match(topic)), bruteMatch(model, topic); !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: Match(%q) = %q, want %q", seed, step, topic, got, want)
				}
			}
			if tr.Len() != len(model) {
				t.Fatalf("seed %d step %d: Len() = %d, want %d", seed, step, tr.Len(), len(model))
			}
		}
		checkCache(t, tr)
		for s := range model {
			tr.Unsubscribe(s.filter, s.key)
		}
		assertEmpty(t, tr)
		checkCache(t, tr)
	}
}

func TestRetainedRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 2))
		r := NewRetained[int]()
		model := map[string]int{}
		for step := range 1000 {
			topic := randomLevels(rng, topicAlphabet)
			if rng.IntN(3) == 0 {
				_, had := model[topic]
				if deleted := r.Delete(topic); deleted != had {
					t.Fatalf("seed %d step %d: Delete(%q) = %v, model had it: %v", seed, step, topic, deleted, had)
				}
				delete(model, topic)
			} else {
				_, had := model[topic]
				if replaced := r.Set(topic, step); replaced != had {
					t.Fatalf("seed %d step %d: Set(%q) = %v, model had it: %v", seed, step, topic, replaced, had)
				}
				model[topic] = step
			}
			filter := randomLevels(rng, filterAlphabet)
			if rng.IntN(3) == 0 {
				filter += "/#"
			}
			var want []string
			for topic, v := range model {
				if MatchFilter(filter, topic) {
					want = append(want, fmt.Sprintf("%s=%d", topic, v))
				}
			}
			slices.Sort(want)
			if got := retainedMatch(r, filter); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: Match(%q) = %q, want %q", seed, step, filter, got, want)
			}
			if r.Len() != len(model) {
				t.Fatalf("seed %d step %d: Len() = %d, want %d", seed, step, r.Len(), len(model))
			}
		}
		for topic := range model {
			r.Delete(topic)
		}
		assertRetainedEmpty(t, r)
	}
}

func FuzzMatch(f *testing.F) {
	for _, tc := range matchFilterTests {
		f.Add(tc.filter, tc.topic)
	}
	f.Add("$share/g/a/+", "a/b")
	f.Add("$share/g/#", "$SYS/x")
	f.Add("$share/g", "$share/g")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		name, inner, shared := SplitShared(filter)
		want := MatchFilter(inner, topic)

		tr := New[int, int]()
		tr.Subscribe(filter, 1, 2)
		for range 2 { // uncached, then cached
			r := tr.Match(topic)
			if got := len(r.Subs)+len(r.Groups) > 0; got != want {
				t.Fatalf("Trie: Subscribe(%q) then Match(%q) found %v, MatchFilter says %v", filter, topic, got, want)
			}
			if want && shared && (len(r.Subs) != 0 || len(r.Groups) != 1 || r.Groups[0].Name != name || r.Groups[0].Filter != inner) {
				t.Fatalf("Trie: shared %q matched as %q", filter, describe(r))
			}
			if want && !shared && (len(r.Subs) != 1 || len(r.Groups) != 0 || r.Subs[0] != (Entry[int, int]{1, 2})) {
				t.Fatalf("Trie: %q matched as %q", filter, describe(r))
			}
		}
		if !tr.Unsubscribe(filter, 1) {
			t.Fatalf("Trie: Unsubscribe(%q) = false", filter)
		}
		assertEmpty(t, tr)

		rt := NewRetained[int]()
		rt.Set(topic, 3)
		if v, ok := rt.Get(topic); !ok || v != 3 {
			t.Fatalf("Retained: Get(%q) = %v, %v", topic, v, ok)
		}
		found := retainedMatch(rt, filter)
		if got, want := len(found) > 0, MatchFilter(filter, topic); got != want {
			t.Fatalf("Retained: Set(%q) then Match(%q) found %v, MatchFilter says %v", topic, filter, got, want)
		}
		if len(found) > 1 || (len(found) == 1 && found[0] != topic+"=3") {
			t.Fatalf("Retained: Match(%q) = %q", filter, found)
		}
		if !rt.Delete(topic) {
			t.Fatalf("Retained: Delete(%q) = false", topic)
		}
		assertRetainedEmpty(t, rt)
	})
}
