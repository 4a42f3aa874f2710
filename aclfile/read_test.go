package aclfile

import (
	"testing"

	"github.com/jmqx/jmqx/broker"
)

func TestExampleCheckReads(t *testing.T) {
	t.Parallel()
	acl := loadExample(t)
	tests := []struct {
		c      *broker.ClientInfo
		filter string
		want   bool
	}{
		{alice, "#", true}, // deny test/nosubscribe lies inside
		{alice, "test/+", true},
		{alice, "test/#", true},
		{alice, "+/nosubscribe", true},
		{alice, "test/x", false},
		{alice, "test/nosubscribe/x", false}, // the deny has no '#'
		{alice, "$SYS/#", false},             // '$' topics are outside the deny
		{alice, "$share/g/#", true},
		{alice, "$share/g/other/#", false},
		{anon, "public/#", true}, // deny public/secret
		{anon, "public/+", true},
		{anon, "public/news", false},
		{anon, "devices/dev1/commands/+", false},
		{bob, "sensors/+/temperature", true}, // deny sensors/secret/temperature
		{bob, "sensors/bob/temperature", false},
		{bob, "users/bob/#", false},
		{carol, "rooms/42", false}, // no deny rule at all
		{erin, "users/erin/#", false},
		{nil, "a", true}, // refused everything: every message is checked
	}
	for _, tt := range tests {
		if got := acl.CheckReads(tt.c, tt.filter); got != tt.want {
			t.Errorf("CheckReads(%s, %q) = %v, want %v", name(tt.c), tt.filter, got, tt.want)
		}
	}
}

func TestExampleCanRead(t *testing.T) {
	t.Parallel()
	acl := loadExample(t)
	tests := []struct {
		c     *broker.ClientInfo
		topic string
		want  bool
	}{
		{alice, "test/nosubscribe", false},
		{alice, "test/other", true},
		{alice, "test/nosubscribe/x", true},
		{alice, "$SYS/broker/uptime", true},
		{anon, "public/secret", false},
		{anon, "public/news", true},
		{anon, "private/x", false}, // never granted
		{anon, "devices/dev1/commands/reboot", true},
		{anon, "devices/dev2/commands/reboot", false},
		{bob, "sensors/secret/temperature", false},
		{bob, "sensors/bob/temperature", true},
		{bob, "sensors/bob/humidity", false},
		{carol, "rooms/42", false}, // write only
		{erin, "users/erin/a", true},
		{nil, "a", false},
	}
	for _, tt := range tests {
		if got := acl.CanRead(tt.c, tt.topic); got != tt.want {
			t.Errorf("CanRead(%s, %q) = %v, want %v", name(tt.c), tt.topic, got, tt.want)
		}
	}
}

func TestReadChecksWithPatterns(t *testing.T) {
	t.Parallel()
	acl := mustParse(t, "topic read #\ntopic read $SYS/#\npattern deny %c/#\npattern deny private/%u\nuser bob\ntopic read #\n")
	me := &broker.ClientInfo{ClientID: "me"}
	bobMe := &broker.ClientInfo{ClientID: "me", Username: "bob"}
	tests := []struct {
		c           *broker.ClientInfo
		filter      string
		checkReads  bool
		topic       string
		canReadWant bool
	}{
		{me, "#", true, "me/x", false},
		{me, "#", true, "you/x", true},
		{me, "+/x", true, "me/x", false},
		{me, "you/#", false, "you/me", true},
		{me, "private/#", false, "private/x", true}, // %u never applies to anonymous clients
		{bobMe, "private/+", true, "private/bob", false},
		{bobMe, "private/alice", false, "private/alice", true},
		{bobMe, "+/+", true, "me/y", false},
		{&broker.ClientInfo{ClientID: "x"}, "$SYS/#", false, "$SYS/x", true}, // %c/# does not reach '$'
	}
	for _, tt := range tests {
		if !acl.CanSubscribe(tt.c, tt.filter) {
			t.Errorf("CanSubscribe(%s, %q) = false", name(tt.c), tt.filter)
		}
		if got := acl.CheckReads(tt.c, tt.filter); got != tt.checkReads {
			t.Errorf("CheckReads(%s, %q) = %v, want %v", name(tt.c), tt.filter, got, tt.checkReads)
		}
		if got := acl.CanRead(tt.c, tt.topic); got != tt.canReadWant {
			t.Errorf("CanRead(%s, %q) = %v, want %v", name(tt.c), tt.topic, got, tt.canReadWant)
		}
	}
	// A user name a pattern cannot substitute is refused everything.
	bad := &broker.ClientInfo{ClientID: "c", Username: "a/b"}
	if !acl.CheckReads(bad, "x") || acl.CanRead(bad, "x") {
		t.Error("a user name with a slash was not refused every read")
	}
}

// TestCheckReadsLeaksNothing checks CheckReads against CanRead over a small
// universe: for every filter a client may subscribe to and every topic it
// matches, a topic CanRead refuses is only ever delivered through a
// subscription for which CheckReads asks for the per-message check.
func TestCheckReadsLeaksNothing(t *testing.T) {
	t.Parallel()
	topicLevels := []string{"a", "b", "$s", "", "z"}
	filterLevels := []string{"a", "b", "$s", "", "+", "#"}
	topics := expand(topicLevels, 3, false)
	filters := expand(filterLevels, 3, true)
	files := []string{
		"topic read #\ntopic deny a/b\n",
		"topic read #\ntopic deny +/a\ntopic read $s/#\n",
		"topic read a/#\ntopic deny a/+/b\ntopic deny a//#\n",
		"topic read +/+\ntopic deny b/#\ntopic read $s/+\ntopic deny $s/a\n",
		"pattern read #\npattern deny %c/#\n",
		"topic readwrite #\ntopic deny #\n",
	}
	c := &broker.ClientInfo{ClientID: "b"}
	for _, file := range files {
		acl := mustParse(t, file)
		for _, f := range filters {
			if !acl.CanSubscribe(c, f) || acl.CheckReads(c, f) {
				continue
			}
			for _, topic := range topics {
				if refMatch(f, topic) && !acl.CanRead(c, topic) {
					t.Errorf("%q: subscribed to %q without per-message checks, yet CanRead(%q) = false", file, f, topic)
				}
			}
		}
	}
}

func TestReadChecksDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	acl := loadExample(t)
	allocs := testing.AllocsPerRun(100, func() {
		acl.CanRead(alice, "test/nosubscribe")
		acl.CanRead(bob, "sensors/bob/temperature")
		acl.CanRead(anon, "devices/dev1/commands/reboot")
		acl.CheckReads(alice, "$share/g/#")
		acl.CheckReads(bob, "sensors/+/temperature")
	})
	if allocs != 0 {
		t.Errorf("read checks allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkCanRead(b *testing.B) {
	acl := loadExample(b)
	for b.Loop() {
		acl.CanRead(alice, "test/nosubscribe")
	}
}

// name describes a client in test messages.
func name(c *broker.ClientInfo) string {
	if c == nil {
		return "nil client"
	}
	return "user " + c.Username + ", client " + c.ClientID
}
