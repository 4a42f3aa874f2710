package aclfile

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// access is the right a rule grants, or deny.
type access uint8

const (
	accessRead access = 1 << iota
	accessWrite
	accessDeny
	accessReadWrite = accessRead | accessWrite
)

// accessWords maps the access words of the file to their values.
var accessWords = map[string]access{
	"read":      accessRead,
	"write":     accessWrite,
	"readwrite": accessReadWrite,
	"deny":      accessDeny,
}

func (a access) String() string {
	switch a {
	case accessRead:
		return "read"
	case accessWrite:
		return "write"
	case accessReadWrite:
		return "readwrite"
	case accessDeny:
		return "deny"
	}
	return "invalid"
}

// levelKind says how one level of a rule's topic filter matches.
type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelPlus              // '+': one level
	levelHash              // '#': the rest, including nothing; always last
	levelSubst             // a literal containing %u or %c (patterns only)
)

type level struct {
	kind levelKind
	text string
}

// rule is one "topic" or "pattern" line.
type rule struct {
	access  access
	pattern bool   // a "pattern" line
	filter  string // the topic filter as written
	levels  []level
	// usesUser and usesClient say whether some level substitutes %u or %c.
	usesUser, usesClient bool
}

// maxFilterLen is the longest topic filter MQTT can carry (a UTF-8 string
// with a two-byte length).
const maxFilterLen = 65535

// newRule validates filter and compiles it into levels. Only patterns
// substitute %u and %c; in "topic" lines they are literal text.
func newRule(a access, pattern bool, filter string) (rule, error) {
	if err := validateFilter(filter); err != nil {
		return rule{}, err
	}
	r := rule{access: a, pattern: pattern, filter: filter}
	for lv := range strings.SplitSeq(filter, "/") {
		switch {
		case lv == "+":
			r.levels = append(r.levels, level{kind: levelPlus})
		case lv == "#":
			r.levels = append(r.levels, level{kind: levelHash})
		case pattern && (strings.Contains(lv, "%u") || strings.Contains(lv, "%c")):
			r.levels = append(r.levels, level{kind: levelSubst, text: lv})
			r.usesUser = r.usesUser || strings.Contains(lv, "%u")
			r.usesClient = r.usesClient || strings.Contains(lv, "%c")
		default:
			r.levels = append(r.levels, level{kind: levelLiteral, text: lv})
		}
	}
	return r, nil
}

// validateFilter checks that s is a well-formed MQTT topic filter.
func validateFilter(s string) error {
	switch {
	case s == "":
		return errors.New("empty topic")
	case len(s) > maxFilterLen:
		return errors.New("topic longer than 65535 bytes")
	case !utf8.ValidString(s):
		return errors.New("topic is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("topic contains U+0000") // [MQTT-4.7.3-2]
	}
	levels := strings.Split(s, "/")
	for i, lv := range levels {
		if strings.ContainsRune(lv, '#') && (lv != "#" || i != len(levels)-1) {
			return errors.New("'#' must be the whole last level") // [MQTT-4.7.1-2]
		}
		if strings.ContainsRune(lv, '+') && lv != "+" {
			return errors.New("'+' must be a whole level") // [MQTT-4.7.1-3]
		}
	}
	return nil
}

// covers reports whether the rule's filter covers filter, which may be a
// topic filter or, having no wildcards, a topic name (then covering is
// matching). user and client replace %u and %c; the caller has checked that
// they are usable (non-empty where used, no '/', '+' or '#').
func (r *rule) covers(filter, user, client string) bool {
	if r.usesUser && user == "" {
		return false
	}
	if r.usesClient && client == "" {
		return false
	}
	if strings.HasPrefix(filter, "$") {
		if k := r.levels[0].kind; k == levelPlus || k == levelHash {
			return false // [MQTT-4.7.1-1]
		}
	}
	rest, more := filter, true
	for _, lv := range r.levels {
		if lv.kind == levelHash {
			return true
		}
		if !more {
			return false
		}
		var f string
		f, rest, more = strings.Cut(rest, "/")
		switch lv.kind {
		case levelPlus:
			if f == "#" {
				return false
			}
		case levelLiteral:
			if f != lv.text {
				return false
			}
		case levelSubst:
			if f == "+" || f == "#" || !matchSubst(lv.text, f, user, client) {
				return false
			}
		}
	}
	return !more
}

// matchSubst reports whether s equals pat with every "%u" replaced by user
// and every "%c" by client, without building the substituted string. Other
// '%' sequences are literal.
func matchSubst(pat, s, user, client string) bool {
	for {
		i := strings.IndexByte(pat, '%')
		if i < 0 || i+1 >= len(pat) {
			return pat == s
		}
		var val string
		switch pat[i+1] {
		case 'u':
			val = user
		case 'c':
			val = client
		default: // a literal '%' and the byte after it
			if !strings.HasPrefix(s, pat[:i+2]) {
				return false
			}
			pat, s = pat[i+2:], s[i+2:]
			continue
		}
		if !strings.HasPrefix(s, pat[:i]) || !strings.HasPrefix(s[i:], val) {
			return false
		}
		pat, s = pat[i+2:], s[i+len(val):]
	}
}
