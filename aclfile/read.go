package aclfile

import "github.com/jmqx/jmqx/broker"

var _ broker.ReadAuthorizer = (*ACL)(nil)

// CheckReads reports whether messages delivered to c through a
// subscription to filter must each be passed to CanRead: whether some deny
// rule that applies to c (its user section, or the anonymous one, and the
// patterns, with %u and %c substituted) overlaps filter, that is, some
// topic matches both. A shared subscription $share/GROUP/FILTER is checked
// on FILTER. For a client refused everything (nil, or a name a pattern
// cannot substitute) it returns true, so that CanRead refuses every
// message. The broker asks once per granted subscription. It does not
// block, allocates nothing and keeps no argument.
func (a *ACL) CheckReads(c *broker.ClientInfo, filter string) bool {
	if inner, ok := sharedFilter(filter); ok {
		filter = inner
	}
	user, client, ok := a.identity(c)
	if !ok {
		return true
	}
	for _, set := range [2][]rule{a.section(user), a.patterns} {
		for i := range set {
			r := &set[i]
			if r.access == accessDeny && r.overlaps(filter, user, client) {
				return true
			}
		}
	}
	return false
}

// CanRead reports whether c may receive a message published to topic, as
// Mosquitto checks every delivery: some applicable read or readwrite rule
// matches topic and no applicable deny rule does. The broker asks for each
// message delivered through a subscription for which CheckReads returned
// true, with the subscriber's session lock held. It does not block,
// allocates nothing and keeps no argument.
func (a *ACL) CanRead(c *broker.ClientInfo, topic string) bool {
	return a.allowed(c, topic, accessRead)
}
