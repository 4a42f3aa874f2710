package tenant

import (
	"fmt"
	"strings"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/topicpattern"
)

// allowed applies the ACL to an action on a topic (publish) or filter
// (subscribe). The broker's internal client is always allowed. A rule
// whose %u or %c cannot be substituted for this client (see substitutable)
// fails closed: an allow rule does not apply, and a deny rule applies to
// every topic and filter, so that a client cannot slip past a deny by
// choosing a client id or user name with '/', '+' or '#' in it (the class
// of Mosquitto's CVE-2017-7650).
func (a *access) allowed(c *broker.ClientInfo, topic string, act accessBits) bool {
	if c.Internal {
		return true
	}
	if act == accessSubscribe {
		if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
			_, inner, found := strings.Cut(rest, "/")
			if !found || inner == "" {
				return false
			}
			topic = inner
		}
	}
	for i := range a.rules {
		r := &a.rules[i]
		if r.access&act == 0 || (r.user != "" && r.user != c.Username) {
			continue
		}
		if r.pattern.UsesUser() && !substitutable(c.Username) || r.pattern.UsesClient() && !substitutable(c.ClientID) {
			if r.allow {
				continue
			}
			return false
		}
		var applies bool
		switch {
		case act == accessPublish:
			applies = r.pattern.Match(topic, c.Username, c.ClientID)
		case r.allow:
			applies = r.pattern.Covers(topic, c.Username, c.ClientID)
		default:
			applies = r.pattern.Overlaps(topic, c.Username, c.ClientID)
		}
		if applies {
			return r.allow
		}
	}
	return a.allowDef
}

// substitutable reports whether v may stand for %u or %c: it must be
// non-empty and hold no '/', '+' or '#', which would change the filter's
// levels or wildcards.
func substitutable(v string) bool {
	return v != "" && !strings.ContainsAny(v, "/+#")
}

// accessBits is what a rule covers: publishing, subscribing or both.
type accessBits uint8

const (
	accessPublish accessBits = 1 << iota
	accessSubscribe
)

// rule is a compiled Rule.
type rule struct {
	allow   bool
	access  accessBits
	user    string
	pattern topicpattern.Pattern
}

// compileRule compiles r, checking its topic, access and action.
func compileRule(r Rule) (rule, error) {
	if err := validRuleTopic(r.Topic); err != nil {
		return rule{}, fmt.Errorf("topic %q: %w", r.Topic, err)
	}
	cr := rule{allow: r.Action == Allow, user: r.User, pattern: topicpattern.Compile(r.Topic, true)}
	switch r.Access {
	case AccessPublish:
		cr.access = accessPublish
	case AccessSubscribe:
		cr.access = accessSubscribe
	case "", AccessAll:
		cr.access = accessPublish | accessSubscribe
	default:
		return rule{}, fmt.Errorf("access %q: must be %q, %q or %q", r.Access, AccessPublish, AccessSubscribe, AccessAll)
	}
	if r.Action != Allow && r.Action != Deny {
		return rule{}, fmt.Errorf("action %q: must be %q or %q", r.Action, Allow, Deny)
	}
	return cr, nil
}
