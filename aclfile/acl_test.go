package aclfile

import (
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
)

func loadExample(t testing.TB) *ACL {
	t.Helper()
	acl, err := Load("testdata/example.conf")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return acl
}

func mustParse(t testing.TB, text string) *ACL {
	t.Helper()
	acl, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return acl
}

var (
	anon  = &broker.ClientInfo{ClientID: "dev1"}
	alice = &broker.ClientInfo{ClientID: "a1", Username: "alice"}
	bob   = &broker.ClientInfo{ClientID: "b1", Username: "bob"}
	carol = &broker.ClientInfo{ClientID: "cd", Username: "carol and dave"}
	erin  = &broker.ClientInfo{ClientID: "e1", Username: "erin"} // no section
)

func TestExampleCanPublish(t *testing.T) {
	t.Parallel()
	acl := loadExample(t)
	tests := []struct {
		c     *broker.ClientInfo
		topic string
		want  bool
	}{
		{anon, "public/inbox", true},
		{anon, "public/news", false}, // read only
		{anon, "public/secret", false},
		{anon, "users//x", false}, // %u never applies to anonymous clients
		{anon, "devices/dev1/status", true},
		{anon, "devices/dev2/status", false},
		{anon, "devices/dev1/commands/x", false}, // read only
		{alice, "anything/at/all", true},
		{alice, "test/nosubscribe", false},
		{alice, "$SYS/broker/uptime", false}, // '#' does not reach '$' topics; $SYS is read only
		{bob, "public/inbox", false},         // anonymous rules are not bob's
		{alice, "users/alice/x", true},
		{alice, "devices/a1/status", true},
		{bob, "sensors/bob/temperature", true},
		{bob, "sensors/alice/temperature", false},
		{bob, "sensors/bob", false},
		{bob, "users/bob", true},
		{bob, "users/alice/x", false},
		{carol, "rooms/42", true},
		{carol, "rooms/43", false},
		{erin, "users/erin/a/b", true},
		{erin, "anything", false},
	}
	for _, tt := range tests {
		if got := acl.CanPublish(tt.c, tt.topic); got != tt.want {
			t.Errorf("CanPublish(%q, %q) = %v, want %v", tt.c.Username, tt.topic, got, tt.want)
		}
	}
}

func TestExampleCanSubscribe(t *testing.T) {
	t.Parallel()
	acl := loadExample(t)
	tests := []struct {
		c      *broker.ClientInfo
		filter string
		want   bool
	}{
		{anon, "public/#", true},
		{anon, "public/news", true},
		{anon, "public/+/x", true},
		{anon, "public/secret", false},
		{anon, "public/inbox", true}, // write, and read through public/#
		{anon, "#", false},
		{anon, "devices/dev1/commands/+", true},
		{anon, "devices/dev1/commands/#", false},
		{anon, "devices/+/commands/x", false},
		{alice, "#", true}, // the deny covers test/nosubscribe only
		{alice, "test/#", true},
		{alice, "test/nosubscribe", false},
		{alice, "test/+", true},
		{alice, "$SYS/#", true},
		{alice, "$SYS/broker/+", true},
		{alice, "$share/g/test/nosubscribe", false},
		{alice, "$share/g/test/x", true},
		{bob, "sensors/+/temperature", true},
		{bob, "sensors/bob/temperature", true},
		{bob, "sensors/secret/temperature", false},
		{bob, "sensors/#", false},
		{bob, "sensors/bob/+", false}, // write only
		{bob, "users/bob/#", true},
		{bob, "users/+/#", false},
		{carol, "rooms/42", false},
		{erin, "users/erin", true},
		{erin, "#", false},
	}
	for _, tt := range tests {
		if got := acl.CanSubscribe(tt.c, tt.filter); got != tt.want {
			t.Errorf("CanSubscribe(%q, %q) = %v, want %v", tt.c.Username, tt.filter, got, tt.want)
		}
	}
}

func TestDenyWins(t *testing.T) {
	t.Parallel()
	acl := mustParse(t, "topic deny a/b\ntopic readwrite #\npattern deny %c/#\n")
	c := &broker.ClientInfo{ClientID: "me"}
	for _, tt := range []struct {
		name string
		want bool
	}{{"a/b", false}, {"a/c", true}, {"me/x", false}, {"you/x", true}} {
		if got := acl.CanPublish(c, tt.name); got != tt.want {
			t.Errorf("CanPublish(%q) = %v, want %v", tt.name, got, tt.want)
		}
		if got := acl.CanSubscribe(c, tt.name); got != tt.want {
			t.Errorf("CanSubscribe(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDangerousIdentities(t *testing.T) {
	t.Parallel()
	acl := mustParse(t, "pattern readwrite home/%u/#\nuser a/b\ntopic readwrite open\nuser alice\ntopic readwrite open\n")
	tests := []struct {
		c     *broker.ClientInfo
		topic string
		want  bool
	}{
		{&broker.ClientInfo{Username: "alice", ClientID: "x"}, "home/alice/x", true},
		{&broker.ClientInfo{Username: "alice", ClientID: "x/y+#"}, "open", true}, // no pattern uses %c
		{&broker.ClientInfo{Username: "a/b"}, "home/a/b/x", false},
		{&broker.ClientInfo{Username: "a/b"}, "open", false},
		{&broker.ClientInfo{Username: "+"}, "home/x/y", false},
		{&broker.ClientInfo{Username: "#"}, "home/x", false},
	}
	for _, tt := range tests {
		if got := acl.CanPublish(tt.c, tt.topic); got != tt.want {
			t.Errorf("CanPublish(%q/%q, %q) = %v, want %v", tt.c.Username, tt.c.ClientID, tt.topic, got, tt.want)
		}
	}
	acl = mustParse(t, "pattern read d/%c\ntopic read open\n")
	if acl.CanSubscribe(&broker.ClientInfo{ClientID: "a/b"}, "open") {
		t.Error("a client id with a slash passed while a pattern substitutes the client id")
	}
}

func TestEmptyACLRefusesEverything(t *testing.T) {
	t.Parallel()
	acl := mustParse(t, "# nothing\n\n")
	if acl.CanPublish(alice, "a") || acl.CanSubscribe(alice, "#") || acl.CanPublish(anon, "a") {
		t.Error("an empty ACL granted access")
	}
	if acl.CanPublish(nil, "a") || acl.CanSubscribe(nil, "a") {
		t.Error("a nil client was granted access")
	}
}

func TestSharedFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"$share/g/a/b", "a/b", true},
		{"$share/g/#", "#", true},
		{"$share/g", "", false},
		{"$shared/g/a", "", false},
		{"a/b", "", false},
	}
	for _, tt := range tests {
		got, ok := sharedFilter(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("sharedFilter(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestChecksDoNotAllocate(t *testing.T) {
	acl := loadExample(t)
	allocs := testing.AllocsPerRun(100, func() {
		acl.CanPublish(bob, "sensors/bob/temperature")
		acl.CanSubscribe(alice, "$share/g/test/+")
		acl.CanPublish(anon, "devices/dev1/status")
	})
	if allocs != 0 {
		t.Errorf("checks allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkCanPublish(b *testing.B) {
	acl := loadExample(b)
	for b.Loop() {
		acl.CanPublish(bob, "sensors/bob/temperature")
	}
}
