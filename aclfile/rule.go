package aclfile

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/jmqx/jmqx/internal/topicpattern"
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

// rule is one "topic" or "pattern" line.
type rule struct {
	access  access
	pattern bool   // a "pattern" line
	filter  string // the topic filter as written
	pat     topicpattern.Pattern
}

// maxFilterLen is the longest topic filter MQTT can carry (a UTF-8 string
// with a two-byte length).
const maxFilterLen = 65535

// newRule validates filter and compiles it. Only patterns substitute %u
// and %c; in "topic" lines they are literal text.
func newRule(a access, pattern bool, filter string) (rule, error) {
	if err := validateFilter(filter); err != nil {
		return rule{}, err
	}
	return rule{access: a, pattern: pattern, filter: filter, pat: topicpattern.Compile(filter, pattern)}, nil
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
// they contain no '/', '+' or '#'. A pattern using an empty one covers
// nothing.
//
// One choice is conservative on purpose: a filter's '#' level is covered
// only by a rule's '#', never by a '+' at the same level (rule "+/#" does
// not cover filter "#", although both match the same topics).
func (r *rule) covers(filter, user, client string) bool {
	if r.pat.UsesUser() && user == "" || r.pat.UsesClient() && client == "" {
		return false
	}
	if strings.HasSuffix(filter, "#") && r.plusAt(strings.Count(filter, "/")) {
		return false
	}
	return r.pat.Covers(filter, user, client)
}

// overlaps reports whether some topic matches both the rule's filter and
// filter, with %u and %c replaced by user and client as in covers. A
// pattern using an empty one overlaps nothing.
func (r *rule) overlaps(filter, user, client string) bool {
	if r.pat.UsesUser() && user == "" || r.pat.UsesClient() && client == "" {
		return false
	}
	return r.pat.Overlaps(filter, user, client)
}

// plusAt reports whether level i of the rule's filter is '+'.
func (r *rule) plusAt(i int) bool {
	rest := r.filter
	for ; i > 0; i-- {
		var ok bool
		if _, rest, ok = strings.Cut(rest, "/"); !ok {
			return false
		}
	}
	lvl, _, _ := strings.Cut(rest, "/")
	return lvl == "+"
}
