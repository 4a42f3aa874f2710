package tenant

import (
	"testing"

	"github.com/jmqx/jmqx/broker"
)

// A deny rule whose %u or %c cannot be substituted fails closed: it applies
// to every topic and filter of the client, for the accesses (and user) it
// names. An allow rule with one never applies.
func TestACLUnsubstitutableFailsClosed(t *testing.T) {
	open := mustAccess(t, Spec{Name: "t", ACL: ACL{Rules: []Rule{
		{Action: Deny, Access: AccessPublish, Topic: "devices/%c/config"},
		{Action: Deny, Access: AccessSubscribe, Topic: "devices/%c/status"},
		{Action: Deny, Access: AccessPublish, Topic: "users/%u/secret"},
		{Action: Deny, Topic: "admins/%c/#", User: "admin"},
	}}})
	closed := mustAccess(t, Spec{Name: "t", ACL: ACL{Default: Deny, Rules: []Rule{
		{Action: Allow, Topic: "devices/%c/#"},
		{Action: Allow, Topic: "users/%u/#"},
	}}})
	plain := &broker.ClientInfo{Username: "alice", ClientID: "c1"}
	tests := []struct {
		a      *access
		user   string
		client string
		sub    bool
		target string
		want   bool
	}{
		// Substitutable values: the rules apply as written.
		{open, "alice", "c1", false, "devices/c1/config", false},
		{open, "alice", "c1", false, "devices/c2/config", true},
		{open, "alice", "c1", false, "other", true},
		{open, "alice", "c1", true, "devices/c1/status", false},
		{open, "alice", "c1", true, "devices/+/config", true},
		// Client id a/b: the publish deny applies to every topic it
		// publishes, and only to publishing.
		{open, "alice", "a/b", false, "devices/a/b/config", false},
		{open, "alice", "a/b", false, "devices/x/config", false},
		{open, "alice", "a/b", false, "other", false},
		{open, "alice", "a/b", false, "$SYS/x", false},
		// ... and the subscribe deny to every filter it subscribes to.
		{open, "alice", "a/b", true, "devices/a/b/status", false},
		{open, "alice", "a/b", true, "devices/a/b/config", false},
		{open, "alice", "a/b", true, "#", false},
		{open, "alice", "a/b", true, "$share/g/devices/a/b/status", false},
		// Wildcards in the client id, and an empty one.
		{open, "alice", "+", false, "devices/x/config", false},
		{open, "alice", "#", false, "devices/x/config", false},
		{open, "alice", "", false, "devices//config", false},
		{open, "alice", "#", true, "x", false},
		// %u: a user name with '/' or none at all.
		{open, "a/b", "c1", false, "users/a/b/secret", false},
		{open, "a/b", "c1", false, "anything", false},
		{open, "", "c1", false, "users//secret", false},
		{open, "", "c1", false, "anything", false},
		{open, "", "c1", true, "anything", true}, // the %u rule is publish-only
		// A rule restricted to another user does not apply at all.
		{open, "bob", "x/y", true, "admins/x/y/z", false}, // subscribe deny of devices/%c/status
		{closed, "bob", "x/y", false, "devices/x/y/1", false},
		// Allow rules with an unsubstitutable value still never apply.
		{closed, "alice", "c1", false, "devices/c1/1", true},
		{closed, "alice", "a/b", false, "devices/a/b/1", false},
		{closed, "alice", "+", true, "devices/+/#", false},
		{closed, "a/b", "c1", false, "users/a/b/1", false},
		{closed, "a/b", "c1", false, "devices/c1/1", true}, // the %c rule still applies
	}
	for _, tt := range tests {
		g := newGuard(tt.a)
		c := &broker.ClientInfo{Username: tt.user, ClientID: tt.client}
		var got bool
		if tt.sub {
			got = g.CanSubscribe(c, tt.target)
		} else {
			got = g.CanPublish(c, tt.target)
		}
		if got != tt.want {
			t.Errorf("user %q client %q subscribe=%v %q: got %v, want %v", tt.user, tt.client, tt.sub, tt.target, got, tt.want)
		}
	}

	// The user-restricted deny applies to its user only, failing closed.
	admin := mustAccess(t, Spec{Name: "t", ACL: ACL{Rules: []Rule{{Action: Deny, Topic: "admins/%c/#", User: "admin"}}}})
	g := newGuard(admin)
	if !g.CanPublish(&broker.ClientInfo{Username: "bob", ClientID: "x/y"}, "x") {
		t.Error("a deny for user admin applied to bob")
	}
	if g.CanPublish(&broker.ClientInfo{Username: "admin", ClientID: "x/y"}, "x") {
		t.Error("a deny for user admin with an unsubstitutable client id did not apply to admin")
	}
	if !g.CanPublish(plain, "admins/c1/x") {
		t.Error("a deny for user admin applied to alice")
	}
	// The broker's internal client is never refused.
	if !g.CanPublish(&broker.ClientInfo{Internal: true}, "admins/x/y") {
		t.Error("internal client refused")
	}
}

func TestCanPublishAllocsFailClosed(t *testing.T) {
	g := newGuard(mustAccess(t, Spec{Name: "t", ACL: ACL{Rules: []Rule{
		{Action: Allow, Topic: "dev-%c/#"},
		{Action: Deny, Access: AccessPublish, Topic: "devices/%c/config"},
	}}}))
	for _, c := range []*broker.ClientInfo{{ClientID: "a/b"}, {ClientID: "c"}} {
		if n := testing.AllocsPerRun(100, func() { g.CanPublish(c, "devices/a/b/config") }); n != 0 {
			t.Errorf("CanPublish by %q allocates %v times", c.ClientID, n)
		}
	}
}
