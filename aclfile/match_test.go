package aclfile

import (
	"fmt"
	"strings"
	"testing"
)

func mustRule(t testing.TB, a access, pattern bool, filter string) rule {
	t.Helper()
	r, err := newRule(a, pattern, filter)
	if err != nil {
		t.Fatalf("newRule(%q): %v", filter, err)
	}
	return r
}

func TestCovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rule, filter string
		want         bool
	}{
		// Literals.
		{"a/b", "a/b", true},
		{"a/b", "a", false},
		{"a/b", "a/b/c", false},
		{"a/b", "a/+", false},
		{"a/b", "a/#", false},
		{"a//b", "a//b", true},
		{"a//b", "a/b", false},
		{"/", "/", true},
		{"/", "", false},
		// '+' covers one literal or '+' level, never '#'.
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/", true},
		{"a/+", "a/#", false},
		{"a/+", "a", false},
		{"a/+", "a/b/c", false},
		{"+/+", "+/b", true},
		{"+", "#", false},
		{"+/#", "#", false}, // conservative: a filter '#' needs a rule '#'
		// '#' covers the rest, including nothing.
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "+/#", true},
		{"#", "#", true},
		{"a/#", "a", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/c", true},
		{"a/#", "b", false},
		{"a/#", "#", false},
		{"a/#", "+", false},
		{"a/+/#", "a/#", false},
		{"a/+/#", "a/b/#", true},
		{"a/+/#", "a/b", true},
		// [MQTT-4.7.1-1]: a leading wildcard does not reach '$' topics.
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"+", "$SYS", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/#", "$SYS/#", true},
		{"$SYS/+", "$SYS/x", true},
		{"a/#", "a/$x", true},
	}
	for _, tt := range tests {
		r := mustRule(t, accessRead, false, tt.rule)
		if got := r.covers(tt.filter, "", ""); got != tt.want {
			t.Errorf("rule %q covers %q = %v, want %v", tt.rule, tt.filter, got, tt.want)
		}
	}
}

func TestCoversSubstitution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, filter, user, client string
		want                          bool
	}{
		{"users/%u/#", "users/alice/x", "alice", "c1", true},
		{"users/%u/#", "users/alice", "alice", "c1", true},
		{"users/%u/#", "users/bob/x", "alice", "c1", false},
		{"users/%u/#", "users/+/x", "alice", "c1", false},
		{"users/%u/#", "users/#", "alice", "c1", false},
		{"users/%u/#", "users/%u/x", "alice", "c1", false},
		{"users/%u/#", "users//x", "", "c1", false}, // anonymous: never
		{"d/%c", "d/c1", "", "c1", true},
		{"d/%c", "d/c1", "alice", "c1", true},
		{"d/%c", "d/c2", "", "c1", false},
		{"d/%c", "d/", "", "", false},
		{"d/x-%u-%c-y", "d/x-alice-c1-y", "alice", "c1", true},
		{"d/x-%u-%c-y", "d/x-alice-c1-", "alice", "c1", false},
		{"d/x-%u-%c-y", "d/x-alice-c2-y", "alice", "c1", false},
		{"d/%u%u", "d/abab", "ab", "c", true},
		{"d/%u%u", "d/ab", "ab", "c", false},
		{"d/100%/%u", "d/100%/ab", "ab", "c", true},
		{"d/%x%u", "d/%xab", "ab", "c", true},
		{"d/%x%u", "d/yxab", "ab", "c", false},
		{"%u/#", "alice/x", "alice", "c", true},
	}
	for _, tt := range tests {
		r := mustRule(t, accessRead, true, tt.pattern)
		if got := r.covers(tt.filter, tt.user, tt.client); got != tt.want {
			t.Errorf("pattern %q covers %q (user %q, client %q) = %v, want %v",
				tt.pattern, tt.filter, tt.user, tt.client, got, tt.want)
		}
	}
	// In "topic" lines %u is literal text.
	r := mustRule(t, accessRead, false, "users/%u")
	if !r.covers("users/%u", "alice", "c") || r.covers("users/alice", "alice", "c") {
		t.Error(`topic "users/%u" should match only the literal "users/%u"`)
	}
}

func TestValidateFilter(t *testing.T) {
	t.Parallel()
	valid := []string{"a", "/", "a/b", "#", "+", "a/+/b", "a/#", "+/+/#", "$SYS/#", "a b/c", "ü/€"}
	for _, f := range valid {
		if err := validateFilter(f); err != nil {
			t.Errorf("validateFilter(%q) = %v, want nil", f, err)
		}
	}
	invalid := []string{"", "a/#/b", "a#", "#/", "a/b+", "++", "a\x00b", "\xff", strings.Repeat("a", maxFilterLen+1)}
	for _, f := range invalid {
		if err := validateFilter(f); err == nil {
			t.Errorf("validateFilter(%.20q) = nil, want an error", f)
		}
	}
}

// refMatch is a reference MQTT matcher of a topic name against a filter
// (MQTT 5.0 section 4.7), written separately from covers to check it.
func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}

// TestCoversIsSubset checks covers against its meaning over a small universe:
// if a rule covers a filter, every topic the filter matches is matched by
// the rule (soundness, the property access control rests on). Conversely,
// when every topic of the filter is matched by the rule, covers says so,
// except for the one case it refuses on purpose: a filter level '#' under
// a rule level '+' (as in rule "+/#" and filter "#").
func TestCoversIsSubset(t *testing.T) {
	t.Parallel()
	topicLevels := []string{"a", "b", "$s", "", "z"} // z appears in no filter
	filterLevels := []string{"a", "b", "$s", "", "+", "#"}
	topics := expand(topicLevels, 4, false)
	filters := expand(filterLevels, 3, true)
	matches := make(map[string][]bool, len(filters)) // filter -> matches topics[i]
	for _, f := range filters {
		m := make([]bool, len(topics))
		for i, topic := range topics {
			m[i] = refMatch(f, topic)
		}
		matches[f] = m
	}
	for _, rf := range filters {
		r := mustRule(t, accessRead, false, rf)
		for _, f := range filters {
			subset := true
			for i := range topics {
				if matches[f][i] && !matches[rf][i] {
					subset = false
					break
				}
			}
			got := r.covers(f, "", "")
			if got && !subset {
				t.Fatalf("rule %q covers %q, but some topic matches the filter and not the rule", rf, f)
			}
			if !got && subset && !hashUnderPlus(rf, f) {
				t.Errorf("rule %q does not cover %q, though every topic of the filter matches the rule", rf, f)
			}
			// A topic name is covered exactly when it matches.
			if want := refMatch(rf, f); !strings.ContainsAny(f, "+#") && got != want {
				t.Errorf("rule %q covers topic %q = %v, reference match %v", rf, f, got, want)
			}
		}
	}
}

// hashUnderPlus reports whether the filter's '#' level lines up with a '+'
// level of the rule.
func hashUnderPlus(rule, filter string) bool {
	rs, fs := strings.Split(rule, "/"), strings.Split(filter, "/")
	return fs[len(fs)-1] == "#" && len(fs) <= len(rs) && rs[len(fs)-1] == "+"
}

// expand returns every topic (or valid filter) of 1..n levels drawn from
// levels.
func expand(levels []string, n int, filters bool) []string {
	var out []string
	var rec func(prefix []string)
	rec = func(prefix []string) {
		if len(prefix) > 0 {
			s := strings.Join(prefix, "/")
			if !filters || validateFilter(s) == nil {
				out = append(out, s)
			}
		}
		if len(prefix) == n || (len(prefix) > 0 && prefix[len(prefix)-1] == "#") {
			return
		}
		for _, lv := range levels {
			rec(append(prefix[:len(prefix):len(prefix)], lv))
		}
	}
	rec(nil)
	return out
}

func TestExpand(t *testing.T) {
	t.Parallel()
	got := fmt.Sprint(expand([]string{"a", "#"}, 2, true))
	if want := "[a a/a a/# #]"; got != want {
		t.Errorf("expand = %s, want %s", got, want)
	}
}
