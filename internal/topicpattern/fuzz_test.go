package topicpattern

import (
	"strings"
	"testing"

	"github.com/jmqx/jmqx/internal/packet"
)

// refMatch is a plain reference for MQTT topic matching.
func refMatch(filter, topic string) bool {
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, l := range fl {
		if l == "#" {
			return true
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

// topics returns every topic of 1..n levels over alphabet.
func topics(alphabet []string, n int) []string {
	out := []string{}
	cur := alphabet
	for i := 1; i <= n; i++ {
		out = append(out, cur...)
		if i == n {
			break
		}
		var next []string
		for _, p := range cur {
			for _, l := range alphabet {
				next = append(next, p+"/"+l)
			}
		}
		cur = next
	}
	return out
}

func FuzzFilterCover(f *testing.F) {
	for _, p := range [][2]string{
		{"#", "a/b"}, {"#", "$SYS/#"}, {"secret/#", "#"}, {"+/+", "a/#"}, {"a/#", "a"}, {"a/+", "+/b"},
		{"$SYS/+", "$SYS/a"}, {"+/#", "$x"}, {"a//b", "a/+/b"}, {"a/b/#", "a/+/#"}, {"+", "#"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 32 || len(b) > 32 || packet.ValidateTopicFilter(a) != nil || packet.ValidateTopicFilter(b) != nil ||
			strings.HasPrefix(a, "$share/") || strings.HasPrefix(b, "$share/") || strings.Contains(a, "%") {
			return
		}
		la, lb := strings.Split(a, "/"), strings.Split(b, "/")
		if len(la) > 4 || len(lb) > 4 {
			return
		}
		// Every literal of either filter, plus fresh ones with and without '$',
		// decide cover and overlap exactly. The empty topic (the parent that
		// "/#" matches) counts as a topic: it never occurs, and counting it
		// only makes covers stricter and overlaps wider, both towards deny.
		lits := map[string]bool{}
		for _, l := range append(la, lb...) {
			if l != "+" && l != "#" {
				lits[l] = true
			}
		}
		fresh, freshDollar := "\x01", "$\x01"
		for lits[fresh] || lits[freshDollar] {
			fresh, freshDollar = fresh+"\x01", freshDollar+"\x01"
		}
		alphabet := []string{fresh, freshDollar}
		for l := range lits {
			alphabet = append(alphabet, l)
		}
		if len(alphabet) > 7 {
			return
		}
		r := Compile(a, true)
		gotCover, gotOverlap := r.Covers(b, "", ""), r.Overlaps(b, "", "")
		wantCover, wantOverlap := true, false
		for _, topic := range topics(alphabet, max(len(la), len(lb))+1) {
			ma, mb := refMatch(a, topic), refMatch(b, topic)
			if got := r.Match(topic, "", ""); got != ma {
				t.Fatalf("matchTopic(%q, %q) = %v, reference %v", a, topic, got, ma)
			}
			if mb && !ma {
				wantCover = false
				if gotCover {
					t.Fatalf("covers(%q, %q) but %q matches only the second", a, b, topic)
				}
			}
			if ma && mb {
				wantOverlap = true
			}
		}
		if gotCover != wantCover {
			t.Fatalf("covers(%q, %q) = %v, brute force %v", a, b, gotCover, wantCover)
		}
		if gotOverlap != wantOverlap {
			t.Fatalf("overlaps(%q, %q) = %v, brute force %v", a, b, gotOverlap, wantOverlap)
		}
	})
}
