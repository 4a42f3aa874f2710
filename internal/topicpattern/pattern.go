// Package topicpattern matches the topic filters of access rules against
// topic names and requested filters. A pattern may stand for the client's
// user name (%u) and client identifier (%c); they are substituted during
// the comparison, without allocating. Besides matching a topic, a pattern
// can cover a requested filter (every topic the filter matches, it matches
// too) or overlap it (some topic matches both), so that an allow rule can
// require covering and a deny rule apply on any overlap. MQTT's rule that
// '+' and '#' at the first level do not match topics starting with '$'
// [MQTT-4.7.2-1] holds throughout. It imports only the standard library.
package topicpattern

import "strings"

// Pattern is a compiled topic filter. The zero value matches nothing.
type Pattern struct {
	levels               []level
	usesUser, usesClient bool
}

// Compile compiles filter, a valid MQTT topic filter. With subst, "%u" and
// "%c" in it stand for the user name and the client identifier; without,
// they are literal text.
func Compile(filter string, subst bool) Pattern {
	return Pattern{
		levels:     compileFilter(filter, subst),
		usesUser:   subst && strings.Contains(filter, "%u"),
		usesClient: subst && strings.Contains(filter, "%c"),
	}
}

// UsesUser and UsesClient report whether the pattern substitutes %u and %c.
// A caller should not apply it for a client whose user name (or client id)
// is empty or contains '/', '+' or '#'.
func (p Pattern) UsesUser() bool   { return p.usesUser }
func (p Pattern) UsesClient() bool { return p.usesClient }

// Match reports whether the pattern, with %u → user and %c → client,
// matches the topic name.
func (p Pattern) Match(topic, user, client string) bool {
	return len(p.levels) > 0 && matchTopic(p.levels, topic, user, client)
}

// Covers reports whether the pattern matches every topic that filter
// matches (for a topic name: whether it matches it).
func (p Pattern) Covers(filter, user, client string) bool {
	return len(p.levels) > 0 && covers(p.levels, filter, user, client)
}

// Overlaps reports whether some topic matches both the pattern and filter.
func (p Pattern) Overlaps(filter, user, client string) bool {
	return len(p.levels) > 0 && overlaps(p.levels, filter, user, client)
}

// levelKind says how one level of a pattern matches.
type levelKind uint8

const (
	levelLiteral  levelKind = iota
	levelPlus               // '+'
	levelHash               // '#'
	levelUser               // exactly "%u"
	levelClient             // exactly "%c"
	levelTemplate           // text with %u or %c in it
)

// level is one level of a compiled filter.
type level struct {
	kind levelKind
	text string // the literal or template
}

// compileFilter splits a topic filter into levels, once; with subst, %u
// and %c are placeholders, else literal text.
func compileFilter(f string, subst bool) []level {
	parts := strings.Split(f, "/")
	ls := make([]level, len(parts))
	for i, p := range parts {
		switch {
		case p == "+":
			ls[i].kind = levelPlus
		case p == "#":
			ls[i].kind = levelHash
		case !subst:
		case p == "%u":
			ls[i].kind = levelUser
		case p == "%c":
			ls[i].kind = levelClient
		case strings.Contains(p, "%u") || strings.Contains(p, "%c"):
			ls[i].kind = levelTemplate
		}
		ls[i].text = p
	}
	return ls
}

// equal reports whether the literal level s equals l with %u replaced by u
// and %c by c (l is not a wildcard). It does not allocate.
func (l *level) equal(s, u, c string) bool {
	switch l.kind {
	case levelUser:
		return s == u
	case levelClient:
		return s == c
	case levelTemplate:
		t := l.text
		for {
			i := strings.IndexByte(t, '%')
			if i < 0 {
				return s == t
			}
			if !strings.HasPrefix(s, t[:i]) {
				return false
			}
			s, t = s[i:], t[i:]
			v := "%"
			if len(t) >= 2 && t[1] == 'u' {
				v, t = u, t[2:]
			} else if len(t) >= 2 && t[1] == 'c' {
				v, t = c, t[2:]
			} else {
				t = t[1:]
			}
			if !strings.HasPrefix(s, v) {
				return false
			}
			s = s[len(v):]
		}
	default:
		return s == l.text
	}
}

// dollar reports whether l, with %u replaced by u and %c by c, starts with
// '$' (a wildcard does not).
func (l *level) dollar(u, c string) bool {
	switch l.kind {
	case levelPlus, levelHash:
		return false
	case levelUser:
		return strings.HasPrefix(u, "$")
	case levelClient:
		return strings.HasPrefix(c, "$")
	}
	t := l.text
	switch {
	case strings.HasPrefix(t, "%u"):
		return strings.HasPrefix(u, "$")
	case strings.HasPrefix(t, "%c"):
		return strings.HasPrefix(c, "$")
	}
	return strings.HasPrefix(t, "$")
}

// isWild reports whether a level of a requested filter is a wildcard.
func isWild(s string) bool { return s == "+" || s == "#" }

// startsDollar reports whether a literal level starts with '$'.
func startsDollar(s string) bool { return s != "" && s[0] == '$' }

// endsAt reports whether a filter matches a topic that ends after level i:
// the filter ends there too, or its only further level is '#' (which also
// matches the parent level).
func endsAt(r []level, i int) bool {
	return i+1 == len(r) || (i+2 == len(r) && r[i+1].kind == levelHash)
}

// matchTopic reports whether the filter r (with %u → u, %c → c) matches
// the topic name. A '+' or '#' first level does not match a topic starting
// with '$' [MQTT-4.7.2-1].
func matchTopic(r []level, topic, u, c string) bool {
	for i := 0; ; i++ {
		lvl, rest, more := strings.Cut(topic, "/")
		if i == len(r) {
			return false
		}
		l := &r[i]
		switch l.kind {
		case levelHash:
			return i > 0 || !startsDollar(lvl)
		case levelPlus:
			if i == 0 && startsDollar(lvl) {
				return false
			}
		default:
			if !l.equal(lvl, u, c) {
				return false
			}
		}
		if !more {
			return endsAt(r, i)
		}
		topic = rest
	}
}

// covers reports whether the filter r (with %u → u, %c → c) matches every
// topic that the filter f matches.
func covers(r []level, f, u, c string) bool {
	for i := 0; ; i++ {
		lvl, rest, more := strings.Cut(f, "/")
		if i == len(r) {
			return false // f matches longer topics
		}
		l := &r[i]
		switch l.kind {
		case levelHash:
			return i > 0 || !startsDollar(lvl)
		case levelPlus:
			if lvl == "#" {
				// A first-level "#" matches every topic not starting with
				// '$', and so does "+/#"; deeper, "#" also matches the
				// parent level, which "+" does not.
				return i == 0 && len(r) == 2 && r[1].kind == levelHash
			}
			if i == 0 && startsDollar(lvl) {
				return false
			}
		default:
			if isWild(lvl) || !l.equal(lvl, u, c) {
				return false
			}
		}
		if !more {
			return endsAt(r, i)
		}
		f = rest
	}
}

// overlaps reports whether some topic matches both the filter r (with
// %u → u, %c → c) and the filter f.
func overlaps(r []level, f, u, c string) bool {
	for i := 0; ; i++ {
		lvl, rest, more := strings.Cut(f, "/")
		if i == len(r) {
			return lvl == "#" && !more // f's '#' matches r's topics too
		}
		l := &r[i]
		rWild := l.kind == levelPlus || l.kind == levelHash
		fWild := isWild(lvl)
		if i == 0 && (rWild && !fWild && startsDollar(lvl) || fWild && !rWild && l.dollar(u, c)) {
			return false // wildcards do not match topics starting with '$'
		}
		if l.kind == levelHash || lvl == "#" {
			return true
		}
		if !rWild && !fWild && !l.equal(lvl, u, c) {
			return false
		}
		if !more {
			return endsAt(r, i)
		}
		f = rest
	}
}
