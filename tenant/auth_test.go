package tenant

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

func mustAccess(t testing.TB, s Spec) *access {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := compileAccess(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func cert(cn string) []*x509.Certificate {
	return []*x509.Certificate{{Subject: pkix.Name{CommonName: cn}}}
}

func TestAuthenticate(t *testing.T) {
	oldHash, newHash := testHash(t, "old"), testHash(t, "new")
	a2, err := HashPasswordArgon2id([]byte("argon"))
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "t", Auth: Auth{
		Users: []User{
			{Name: "alice", PasswordHashes: []string{oldHash, newHash}},
			{Name: "carol", PasswordHashes: []string{a2}},
		},
		CertificateCNs: []string{"dev1"},
	}}
	anon := spec.Clone()
	anon.Auth.AllowAnonymous = true
	closed, open := newGuard(mustAccess(t, spec)), newGuard(mustAccess(t, anon))

	tests := []struct {
		name  string
		g     *guard
		req   broker.AuthRequest
		want  packet.ReasonCode
		tag   Credential
		noTag bool
	}{
		{"anonymous refused", closed, broker.AuthRequest{}, packet.BadUsernameOrPassword, Credential{}, true},
		{"anonymous allowed", open, broker.AuthRequest{}, packet.Success, Credential{}, false},
		{"password without user", open, broker.AuthRequest{Password: []byte("old")}, packet.BadUsernameOrPassword, Credential{}, true},
		{"old hash", closed, broker.AuthRequest{Username: "alice", Password: []byte("old")}, packet.Success, Credential{"alice", oldHash}, false},
		{"new hash", closed, broker.AuthRequest{Username: "alice", Password: []byte("new")}, packet.Success, Credential{"alice", newHash}, false},
		{"argon2id", closed, broker.AuthRequest{Username: "carol", Password: []byte("argon")}, packet.Success, Credential{"carol", a2}, false},
		{"wrong password", open, broker.AuthRequest{Username: "alice", Password: []byte("argon")}, packet.BadUsernameOrPassword, Credential{}, true},
		{"no password", open, broker.AuthRequest{Username: "alice"}, packet.BadUsernameOrPassword, Credential{}, true},
		{"unknown user", open, broker.AuthRequest{Username: "mallory", Password: []byte("old")}, packet.BadUsernameOrPassword, Credential{}, true},
		{"cert", closed, broker.AuthRequest{Certificates: cert("dev1")}, packet.Success, Credential{User: "dev1"}, false},
		{"cert as user name", closed, broker.AuthRequest{Username: "dev1", Certificates: cert("dev1")}, packet.Success, Credential{User: "dev1"}, false},
		{"cert claiming another user", closed, broker.AuthRequest{Username: "alice", Certificates: cert("dev1")}, packet.BadUsernameOrPassword, Credential{}, true},
		{"cert claiming another user with password", closed, broker.AuthRequest{Username: "alice", Password: []byte("new"), Certificates: cert("dev1")}, packet.Success, Credential{"alice", newHash}, false},
		{"unlisted cert", closed, broker.AuthRequest{Certificates: cert("dev2")}, packet.BadUsernameOrPassword, Credential{}, true},
		{"unset guard", &guard{}, broker.AuthRequest{}, packet.NotAuthorized, Credential{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if got := tt.g.Authenticate(&req); got != tt.want {
				t.Fatalf("Authenticate = %v, want %v", got, tt.want)
			}
			if tt.noTag {
				if req.Tag != nil {
					t.Errorf("Tag = %#v, want none", req.Tag)
				}
				return
			}
			if req.Tag != tt.tag {
				t.Errorf("Tag = %#v, want %#v", req.Tag, tt.tag)
			}
		})
	}
}

func TestCredentialCache(t *testing.T) {
	h := testHash(t, "pw")
	a := mustAccess(t, Spec{Name: "t", Auth: Auth{Users: []User{{Name: "u", PasswordHashes: []string{h}}}}})
	ok := func(pw string) bool {
		return a.authenticate(&broker.AuthRequest{Username: "u", Password: []byte(pw)}, nil) == packet.Success
	}
	if ok("bad") || len(a.cache.set) != 0 {
		t.Fatal("failure accepted or cached")
	}
	if !ok("pw") || len(a.cache.set) != 1 || !a.cache.has("u", h, []byte("pw")) {
		t.Fatal("success not cached")
	}
	for _, pw := range []string{"bad", "pw2", "", "p"} {
		if ok(pw) {
			t.Errorf("cache hit accepted %q", pw)
		}
	}
	if !ok("pw") {
		t.Error("cached credential refused")
	}
	for i := range credCacheSize + 10 {
		a.cache.add("x", "y", []byte{byte(i), byte(i >> 8)})
	}
	if n := len(a.cache.set); n > credCacheSize {
		t.Errorf("cache holds %d entries, bound %d", n, credCacheSize)
	}
	// A new access (a spec change) starts with an empty cache.
	b := mustAccess(t, Spec{Name: "t", Auth: Auth{Users: []User{{Name: "u", PasswordHashes: []string{h}}}}})
	if len(b.cache.set) != 0 || b.cache.has("u", h, []byte("pw")) {
		t.Error("new access shares the cache")
	}
}

func TestCredentialValid(t *testing.T) {
	h1, h2 := testHash(t, "a"), testHash(t, "b")
	s := Spec{Name: "t", Auth: Auth{
		AllowAnonymous: true,
		Users:          []User{{Name: "u", PasswordHashes: []string{h1, h2}}, {Name: "v", PasswordHashes: []string{h1}}},
		CertificateCNs: []string{"dev1"},
	}}
	a := mustAccess(t, s)
	tags := []any{Credential{"u", h1}, Credential{"u", h2}, Credential{"v", h1}, Credential{User: "dev1"}, Credential{}}
	for _, tag := range tags {
		if !a.credentialValid(tag) {
			t.Errorf("credentialValid(%#v) = false", tag)
		}
	}
	for _, tag := range []any{nil, "u", Credential{"w", h1}, Credential{"u", testHash(t, "a")}, Credential{User: "dev2"}} {
		if a.credentialValid(tag) {
			t.Errorf("credentialValid(%#v) = true", tag)
		}
	}
	// Remove u's first hash, user v, the CN and anonymous access.
	s = s.Clone()
	s.Auth.AllowAnonymous = false
	s.Auth.Users = []User{{Name: "u", PasswordHashes: []string{h2}}}
	s.Auth.CertificateCNs = nil
	b := mustAccess(t, s)
	want := []bool{false, true, false, false, false}
	for i, tag := range tags {
		if got := b.credentialValid(tag); got != want[i] {
			t.Errorf("after removal: credentialValid(%#v) = %v, want %v", tag, got, want[i])
		}
	}
}

func TestACL(t *testing.T) {
	rules := []Rule{
		{Action: Deny, Topic: "secret/#"},
		{Action: Allow, Topic: "users/%u/#"},
		{Action: Allow, Access: AccessSubscribe, Topic: "clients/%c/in"},
		{Action: Allow, Access: AccessPublish, Topic: "clients/%c/out"},
		{Action: Allow, Topic: "dev-%u-%c/+"},
		{Action: Allow, Access: AccessSubscribe, Topic: "admin/#", User: "root"},
		{Action: Deny, Access: AccessPublish, Topic: "$SYS/#"},
		{Action: Allow, Access: AccessSubscribe, Topic: "$SYS/broker/+"},
		{Action: Allow, Access: AccessSubscribe, Topic: "public/+/data"},
		{Action: Allow, Access: AccessPublish, Topic: "public/#"},
	}
	a := mustAccess(t, Spec{Name: "t", ACL: ACL{Default: Deny, Rules: rules}})
	open := mustAccess(t, Spec{Name: "t", ACL: ACL{Rules: []Rule{{Action: Deny, Topic: "secret/#"}, {Action: Deny, Access: AccessSubscribe, Topic: "+/private"}}}})
	alice := &broker.ClientInfo{Username: "alice", ClientID: "c1"}
	root := &broker.ClientInfo{Username: "root", ClientID: "c2"}
	anon := &broker.ClientInfo{ClientID: "c3"}
	inject := &broker.ClientInfo{Username: "+", ClientID: "#"}
	slash := &broker.ClientInfo{Username: "a/b", ClientID: "x/y"}
	internal := &broker.ClientInfo{Internal: true}

	tests := []struct {
		a      *access
		c      *broker.ClientInfo
		sub    bool
		target string
		want   bool
	}{
		{a, alice, false, "users/alice/x", true},
		{a, alice, false, "users/alice", true},
		{a, alice, false, "users/bob/x", false},
		{a, alice, true, "users/alice/#", true},
		{a, alice, true, "users/+/x", false}, // not covered by users/alice/#
		{a, alice, true, "users/#", false},
		{a, anon, false, "users//x", false}, // %u never applies without a user name
		{a, inject, false, "users/+/x", false},
		{a, inject, true, "users/+/#", false},
		{a, slash, false, "users/a/b/x", false},
		{a, alice, true, "clients/c1/in", true},
		{a, alice, false, "clients/c1/in", false}, // subscribe-only rule
		{a, alice, false, "clients/c1/out", true},
		{a, alice, true, "clients/c1/out", false},
		{a, alice, true, "clients/c2/in", false},
		{a, alice, false, "dev-alice-c1/t", true},
		{a, alice, false, "dev-alice-c2/t", false},
		{a, alice, true, "dev-alice-c1/+", true},
		{a, alice, true, "dev-alice-c1/#", false},
		{a, root, true, "admin/x/y", true},
		{a, alice, true, "admin/x/y", false},
		{a, alice, false, "secret/x", false},
		{a, alice, false, "users/alice/secret", true},
		// A deny applies when the filters overlap: a wider wildcard does not get around it.
		{open, alice, true, "#", false},
		{open, alice, true, "+/x", false},       // overlaps secret/# at secret/x
		{open, alice, true, "public/+/x", true}, // overlaps neither
		{open, alice, true, "secret", false},    // secret/# matches its parent
		{open, alice, true, "+/+/+", false},     // overlaps secret/#
		{open, alice, true, "public/#", false},  // overlaps +/private at public/private
		{open, alice, true, "public/x/#", true},
		{open, alice, true, "a/private", false},
		{open, alice, true, "a/+", false},
		{open, alice, true, "a/b/private", true},
		{open, alice, false, "a/private", true},
		// '$' topics: wildcards at the first level do not match them.
		{open, alice, true, "$SYS/#", true},
		{open, alice, false, "$secret/x", true},
		{a, alice, false, "$SYS/x", false},
		{a, alice, true, "$SYS/broker/load", true},
		{a, alice, true, "$SYS/broker/+", true},
		{a, alice, true, "$SYS/#", false},
		{a, alice, true, "#", false},
		{a, alice, true, "public/+/data", true},
		{a, alice, true, "public/x/data", true},
		{a, alice, true, "public/#", false},
		{a, alice, false, "public/a/b", true},
		// $share: the rules apply to the inner filter.
		{a, alice, true, "$share/g/users/alice/#", true},
		{a, alice, true, "$share/g/secret/x", false},
		{a, alice, true, "$share/g", false},
		{open, alice, true, "$share/g/#", false},
		{open, alice, true, "$share/g/x", true},
		{a, internal, false, "secret/x", true},
		{a, internal, true, "#", true},
	}
	for _, tt := range tests {
		g := newGuard(tt.a)
		var got bool
		if tt.sub {
			got = g.CanSubscribe(tt.c, tt.target)
		} else {
			got = g.CanPublish(tt.c, tt.target)
		}
		if got != tt.want {
			t.Errorf("user %q client %q subscribe=%v %q: got %v, want %v", tt.c.Username, tt.c.ClientID, tt.sub, tt.target, got, tt.want)
		}
	}
	if (&guard{}).CanPublish(alice, "x") || (&guard{}).CanSubscribe(alice, "x") {
		t.Error("a guard without access allows")
	}
}

func TestGuardSet(t *testing.T) {
	g := newGuard(mustAccess(t, Spec{Name: "t"}))
	c := &broker.ClientInfo{Username: "u", ClientID: "c"}
	if !g.CanPublish(c, "a") {
		t.Fatal("default allow refused")
	}
	g.set(mustAccess(t, Spec{Name: "t", ACL: ACL{Default: Deny}}))
	if g.CanPublish(c, "a") {
		t.Fatal("update not applied")
	}
}

func TestCanPublishAllocs(t *testing.T) {
	rules := []Rule{
		{Action: Deny, Topic: "secret/#"},
		{Action: Allow, Access: AccessPublish, Topic: "a/+/c", User: "u"},
		{Action: Allow, Topic: "users/%u/#"},
		{Action: Allow, Topic: "dev-%u/%c/#"},
		{Action: Allow, Topic: "x/#"},
	}
	g := newGuard(mustAccess(t, Spec{Name: "t", ACL: ACL{Default: Deny, Rules: rules}}))
	c := &broker.ClientInfo{Username: "u", ClientID: "c"}
	for _, topic := range []string{"x/y/z", "users/u/1", "dev-u/c/1", "nope/1"} {
		if n := testing.AllocsPerRun(100, func() { g.CanPublish(c, topic) }); n != 0 {
			t.Errorf("CanPublish(%q) allocates %v times", topic, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { g.CanSubscribe(c, "x/+/#") }); n != 0 {
		t.Errorf("CanSubscribe allocates %v times", n)
	}
}
