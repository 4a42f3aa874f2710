package aclfile

import (
	"strings"

	"github.com/jmqx/jmqx/broker"
)

var _ broker.Authorizer = (*ACL)(nil)

// ACL is a parsed acl_file: per-user topic rules and patterns for everyone.
// It implements broker.Authorizer and broker.ReadAuthorizer. It is
// immutable and safe for concurrent use; create it with Load or Parse.
type ACL struct {
	anonymous []rule            // "topic" lines before the first "user" line
	users     map[string][]rule // "topic" lines per user section
	userOrder []string          // user names in order of first appearance
	patterns  []rule            // "pattern" lines, wherever they appear

	// patternsUseUser and patternsUseClient are set when some pattern
	// substitutes %u or %c; clients whose name or id could escape a level
	// are then refused everything.
	patternsUseUser, patternsUseClient bool
}

// CanPublish reports whether c may publish to topic: some applicable write
// or readwrite rule matches topic and no applicable deny rule does. It does
// not block, allocates nothing and keeps no argument.
func (a *ACL) CanPublish(c *broker.ClientInfo, topic string) bool {
	return a.allowed(c, topic, accessWrite)
}

// CanSubscribe reports whether c may subscribe to filter: some applicable
// read or readwrite rule covers filter and no applicable deny rule does. A
// shared subscription $share/GROUP/FILTER is checked on FILTER. A deny rule
// that only overlaps filter does not refuse the subscription; the broker
// then filters its messages through CheckReads and CanRead (see read.go and
// the package documentation). It does not block, allocates nothing and
// keeps no argument.
func (a *ACL) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	if inner, ok := sharedFilter(filter); ok {
		filter = inner
	}
	return a.allowed(c, filter, accessRead)
}

// allowed applies the rules for c to name (a topic or a filter) for the
// right want.
func (a *ACL) allowed(c *broker.ClientInfo, name string, want access) bool {
	user, client, ok := a.identity(c)
	if !ok {
		return false
	}
	granted := false
	for _, set := range [2][]rule{a.section(user), a.patterns} {
		for i := range set {
			r := &set[i]
			if !r.covers(name, user, client) {
				continue
			}
			if r.access == accessDeny {
				return false
			}
			if r.access&want != 0 {
				granted = true
			}
		}
	}
	return granted
}

// identity returns the user name and client identifier the rules see for
// c, or false when c is nil or, some pattern substituting them, one of
// them could reach into another level (then c is refused everything).
func (a *ACL) identity(c *broker.ClientInfo) (user, client string, ok bool) {
	if c == nil {
		return "", "", false
	}
	user, client = c.Username, c.ClientID
	if a.patternsUseUser && strings.ContainsAny(user, "/+#") ||
		a.patternsUseClient && strings.ContainsAny(client, "/+#") {
		return "", "", false
	}
	return user, client, true
}

// section returns the "topic" rules of user: the anonymous section for
// the empty name.
func (a *ACL) section(user string) []rule {
	if user == "" {
		return a.anonymous
	}
	return a.users[user]
}

// sharedFilter returns FILTER of a shared subscription $share/GROUP/FILTER.
func sharedFilter(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "$share/")
	if !ok {
		return "", false
	}
	_, filter, ok := strings.Cut(rest, "/")
	return filter, ok
}

// String returns the rules in canonical acl_file form: the anonymous topic
// lines, then the patterns, then each user's section in order of first
// appearance (several sections of one user merged), every line with an
// explicit access word. Parsing the result gives an equivalent ACL.
func (a *ACL) String() string {
	var b strings.Builder
	writeRules := func(rules []rule) {
		for _, r := range rules {
			if r.pattern {
				b.WriteString("pattern ")
			} else {
				b.WriteString("topic ")
			}
			b.WriteString(r.access.String())
			b.WriteByte(' ')
			b.WriteString(r.filter)
			b.WriteByte('\n')
		}
	}
	writeRules(a.anonymous)
	writeRules(a.patterns)
	for _, u := range a.userOrder {
		b.WriteString("user ")
		b.WriteString(u)
		b.WriteByte('\n')
		writeRules(a.users[u])
	}
	return b.String()
}
