package topics

import (
	"strings"
	"testing"
)

var matchFilterTests = []struct {
	filter, topic string
	want          bool
}{
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/b", "a", false},
	{"a", "a/b", false},
	{"a/+", "a/b", true},
	{"a/+", "a", false},
	{"a/+", "a/", true}, // '+' matches an empty level
	{"a/+", "a/b/c", false},
	{"+", "a", true},
	{"+", "", true},
	{"+", "/", false},
	{"+/+", "/", true},
	{"/+", "/a", true},
	{"+/b/+", "a/b/c", true},
	{"a/+/b", "a//b", true},
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"#", "", true},
	{"a/#", "a", true}, // the parent level [MQTT-4.7.1-2]
	{"a/#", "a/", true},
	{"a/#", "a/b/c", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"+/#", "a", true},
	{"+/+/#", "a", false},
	{"a//b", "a//b", true},
	{"a//b", "a/b", false},
	{"//", "//", true},
	{"#", "$SYS/x", false}, // [MQTT-4.7.1-1]
	{"+/x", "$SYS/x", false},
	{"+", "$SYS", false},
	{"+/#", "$SYS", false},
	{"#", "$", false},
	{"$SYS/#", "$SYS/x", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+", "$SYS/x", true},
	{"$SYS", "$SYS", true},
	{"a/$b", "a/$b", true},
	{"+/$b", "a/$b", true},
	{"a/#", "a/$b", true},
	{"#/a", "x/a", false}, // invalid: '#' not last matches nothing
	{"#/a", "#/a", false},
	{"a+", "a+", true}, // invalid: wildcard inside a level is literal
	{"a+", "ab", false},
	{"a/+", "a/+", true},
	{"", "", true},
	{"", "a", false},
	{"a", "", false},
	{"a/b/c/d/e/f/g", "a/b/c/d/e/f/g", true},
	{"a/+/c/+/e/+/g", "a/b/c/d/e/f/g", true},
	{"a/+/c/+/e/+/g", "a/b/c/d/e/f/h", false},
}

func TestMatchFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range matchFilterTests {
		if got := MatchFilter(tc.filter, tc.topic); got != tc.want {
			t.Errorf("MatchFilter(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestMatchFilterManyLevels(t *testing.T) {
	t.Parallel()
	topic := strings.Repeat("x/", 199) + "x"
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{topic, true},
		{strings.Repeat("+/", 199) + "+", true},
		{strings.Repeat("+/", 198) + "+", false},
		{strings.Repeat("+/", 200) + "+", false},
		{strings.Repeat("x/", 150) + "#", true},
		{strings.Repeat("x/", 199) + "#", true},
		{strings.Repeat("x/", 200) + "#", true}, // parent level
		{strings.Repeat("x/", 201) + "#", false},
	} {
		if got := MatchFilter(tc.filter, topic); got != tc.want {
			t.Errorf("MatchFilter(%d levels) = %v, want %v", strings.Count(tc.filter, "/")+1, got, tc.want)
		}
	}
}

func TestSplitShared(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		filter, group, inner string
		ok                   bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/#", "g", "#", true},
		{"$share/g/", "g", "", true},
		{"$share/g", "", "$share/g", false},
		{"$share/", "", "$share/", false},
		{"$shared/g/a", "", "$shared/g/a", false},
		{"a/b", "", "a/b", false},
		{"", "", "", false},
	} {
		group, inner, ok := SplitShared(tc.filter)
		if group != tc.group || inner != tc.inner || ok != tc.ok {
			t.Errorf("SplitShared(%q) = %q, %q, %v; want %q, %q, %v", tc.filter, group, inner, ok, tc.group, tc.inner, tc.ok)
		}
	}
}

func TestMatchFilterAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { MatchFilter("a/+/c/#", "a/b/c/d/e") }); n != 0 {
		t.Errorf("MatchFilter allocates %v times, want 0", n)
	}
}
