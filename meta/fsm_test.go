package meta

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/jmqx/jmqx/tenant"
)

// cmd is one command of a test table.
type cmd struct {
	t       CommandType
	payload any
}

// seedCmds put a tenant "a" and a member "n1" in place.
var seedCmds = []cmd{
	{CmdPutTenant, PutTenant{Spec: testSpec("a")}},
	{CmdPutMember, PutMember{Member: Member{ID: "n1", RaftAddr: "10.0.0.1:18084", AdminAddr: "10.0.0.1:8080"}}},
}

// newSeeded returns an FSM with seedCmds applied at indexes 1 and 2.
func newSeeded(t testing.TB) *FSM {
	t.Helper()
	f := NewFSM(nil)
	for i, c := range seedCmds {
		mustApply(t, f, uint64(i+1), c.t, c.payload)
	}
	return f
}

func TestFSMCommands(t *testing.T) {
	t.Parallel()
	bob := tenant.User{Name: "bob", PasswordHashes: []string{testHash}}
	bound := map[string]string{ListenerMQTT: "10.0.0.1:1883", ListenerWS: "10.0.0.1:1884"}
	tests := []struct {
		name  string
		cmd   cmd
		check func(t *testing.T, st State)
	}{
		{"put tenant", cmd{CmdPutTenant, PutTenant{Spec: testSpec("b")}}, func(t *testing.T, st State) {
			if _, ok := st.Tenant("b"); !ok {
				t.Error("tenant b missing")
			}
		}},
		{"put tenant if absent, identical", cmd{CmdPutTenant, PutTenant{Spec: testSpec("a"), IfAbsent: true}}, func(t *testing.T, st State) {
			if len(st.Tenants) != 1 {
				t.Errorf("tenants = %v", st.TenantNames())
			}
		}},
		{"delete tenant", cmd{CmdDeleteTenant, DeleteTenant{Name: "a"}}, func(t *testing.T, st State) {
			if len(st.Tenants) != 0 || len(st.Bound) != 0 {
				t.Errorf("tenants %v, bound %v", st.TenantNames(), st.Bound)
			}
		}},
		{"delete missing tenant", cmd{CmdDeleteTenant, DeleteTenant{Name: "zz"}}, nil},
		{"put user", cmd{CmdPutUser, PutUser{Tenant: "a", User: bob}}, func(t *testing.T, st State) {
			spec, _ := st.Tenant("a")
			if n := len(spec.Auth.Users); n != 2 || spec.Auth.Users[1].Name != "bob" {
				t.Errorf("users = %+v", spec.Auth.Users)
			}
		}},
		{"replace user", cmd{CmdPutUser, PutUser{Tenant: "a", User: tenant.User{Name: "alice", PasswordHashes: []string{testHash, testHash}}}}, func(t *testing.T, st State) {
			spec, _ := st.Tenant("a")
			if len(spec.Auth.Users) != 1 || len(spec.Auth.Users[0].PasswordHashes) != 2 {
				t.Errorf("users = %+v", spec.Auth.Users)
			}
		}},
		{"remove user", cmd{CmdRemoveUser, RemoveUser{Tenant: "a", Name: "alice"}}, func(t *testing.T, st State) {
			if spec, _ := st.Tenant("a"); len(spec.Auth.Users) != 0 {
				t.Errorf("users = %+v", spec.Auth.Users)
			}
		}},
		{"remove missing user", cmd{CmdRemoveUser, RemoveUser{Tenant: "a", Name: "nobody"}}, nil},
		{"put acl", cmd{CmdPutACL, PutACL{Tenant: "a", ACL: tenant.ACL{Default: tenant.Allow}}}, func(t *testing.T, st State) {
			if spec, _ := st.Tenant("a"); spec.ACL.Default != tenant.Allow || len(spec.ACL.Rules) != 0 {
				t.Errorf("acl = %+v", spec.ACL)
			}
		}},
		{"put member", cmd{CmdPutMember, PutMember{Member: Member{ID: "n2", RaftAddr: "10.0.0.2:18084"}}}, func(t *testing.T, st State) {
			if m := st.MemberList(); len(m) != 2 || m[1].ID != "n2" {
				t.Errorf("members = %+v", m)
			}
		}},
		{"remove member", cmd{CmdRemoveMember, RemoveMember{ID: "n1"}}, func(t *testing.T, st State) {
			if len(st.Members) != 0 || len(st.Bound) != 0 {
				t.Errorf("members %v, bound %v", st.Members, st.Bound)
			}
		}},
		{"remove missing member", cmd{CmdRemoveMember, RemoveMember{ID: "zz"}}, nil},
		{"record bound", cmd{CmdRecordBound, RecordBound{Tenant: "a", Node: "n2", Listeners: bound}}, func(t *testing.T, st State) {
			if got := st.BoundAddrs("a", "n2"); got[ListenerWS] != "10.0.0.1:1884" {
				t.Errorf("bound = %v", got)
			}
		}},
		{"clear bound", cmd{CmdRecordBound, RecordBound{Tenant: "a", Node: "n1"}}, func(t *testing.T, st State) {
			if len(st.Bound) != 0 {
				t.Errorf("bound = %v", st.Bound)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSeeded(t)
			mustApply(t, f, 3, CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: bound})
			mustApply(t, f, 4, tc.cmd.t, tc.cmd.payload)
			if st := f.State(); st.Index != 4 {
				t.Errorf("Index = %d, want 4", st.Index)
			}
			if tc.check != nil {
				tc.check(t, f.State())
			}
			g := snapshotRoundTrip(t, f)
			if tc.check != nil {
				tc.check(t, g.State())
			}
			// Idempotent: applying it again changes nothing but the index.
			before := f.State()
			mustApply(t, f, 5, tc.cmd.t, tc.cmd.payload)
			after := f.State()
			before.Index, after.Index = 0, 0
			if a, b := stateJSON(t, after), stateJSON(t, before); a != b {
				t.Errorf("second apply changed the state:\n got %s\nwant %s", a, b)
			}
		})
	}
}

func TestFSMRefusals(t *testing.T) {
	t.Parallel()
	other := testSpec("a")
	other.ACL.Default = tenant.Allow
	invalid := testSpec("Bad Name")
	badUser := tenant.User{Name: "x"} // no password hash
	tests := []struct {
		name string
		cmd  cmd
		want error
	}{
		{"put user on missing tenant", cmd{CmdPutUser, PutUser{Tenant: "zz", User: tenant.User{Name: "x", PasswordHashes: []string{testHash}}}}, ErrNotFound},
		{"invalid user", cmd{CmdPutUser, PutUser{Tenant: "a", User: badUser}}, ErrInvalid},
		{"remove user on missing tenant", cmd{CmdRemoveUser, RemoveUser{Tenant: "zz", Name: "x"}}, ErrNotFound},
		{"put acl on missing tenant", cmd{CmdPutACL, PutACL{Tenant: "zz"}}, ErrNotFound},
		{"invalid acl", cmd{CmdPutACL, PutACL{Tenant: "a", ACL: tenant.ACL{Default: "maybe"}}}, ErrInvalid},
		{"if absent, different spec", cmd{CmdPutTenant, PutTenant{Spec: other, IfAbsent: true}}, ErrExists},
		{"invalid spec", cmd{CmdPutTenant, PutTenant{Spec: invalid}}, ErrInvalid},
		{"member without id", cmd{CmdPutMember, PutMember{Member: Member{RaftAddr: "x:1"}}}, ErrInvalid},
		{"bound on missing tenant", cmd{CmdRecordBound, RecordBound{Tenant: "zz", Node: "n1"}}, ErrNotFound},
		{"bound without node", cmd{CmdRecordBound, RecordBound{Tenant: "a"}}, ErrInvalid},
		{"bound unknown listener", cmd{CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"quic": "1.2.3.4:5"}}}, ErrInvalid},
		{"bound bad address", cmd{CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"mqtt": "nope"}}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSeeded(t)
			before := stateJSON(t, f.State())
			if err := apply(t, f, 3, tc.cmd.t, tc.cmd.payload); !errors.Is(err, tc.want) {
				t.Fatalf("Apply = %v, want %v", err, tc.want)
			}
			if after := stateJSON(t, f.State()); after != before {
				t.Errorf("refused command changed the state:\n got %s\nwant %s", after, before)
			}
		})
	}
}

func TestFSMDiverged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		data     []byte
		diverged bool
	}{
		{"unknown ignorable", []byte{0x80 | 0x33, '{', '}'}, false},
		{"unknown ignorable, empty", []byte{0xff}, false},
		{"unknown", []byte{0x33, '{', '}'}, true},
		{"empty", nil, true},
		{"bad json", []byte{byte(CmdPutTenant), '{'}, true},
		{"wrong version", []byte(string(rune(CmdDeleteTenant)) + `{"v":2,"name":"a"}`), true},
		{"no version", []byte(string(rune(CmdDeleteTenant)) + `{"name":"a"}`), true},
		{"bad port", []byte(string(rune(CmdPutTenant)) + `{"v":1,"spec":{"name":"a","listeners":{"mqtt":"x"}}}`), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSeeded(t)
			before := stateJSON(t, f.State())
			var got any
			func() {
				defer func() { got = recover() }()
				if res := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: tc.data}); res != nil {
					t.Errorf("Apply = %v, want nil", res)
				}
			}()
			var d *DivergedError
			if isD := errors.As(asError(got), &d); isD != tc.diverged || (got != nil && !isD) {
				t.Fatalf("panic = %v, want diverged %v", got, tc.diverged)
			}
			if after := stateJSON(t, f.State()); after != before {
				t.Errorf("state changed:\n got %s\nwant %s", after, before)
			}
		})
	}
}

// asError returns v as an error, or nil.
func asError(v any) error {
	err, _ := v.(error)
	return err
}

func TestEncode(t *testing.T) {
	t.Parallel()
	b, err := Encode(CmdDeleteTenant, &DeleteTenant{Name: "a", V: 7})
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x02" + `{"v":1,"name":"a"}`; string(b) != want {
		t.Errorf("Encode = %q, want %q", b, want)
	}
	if _, err := Encode(CmdPutUser, DeleteTenant{Name: "a"}); err == nil {
		t.Error("Encode with a mismatched payload succeeded")
	}
	if _, err := Encode(CmdPutUser, (*PutUser)(nil)); err == nil {
		t.Error("Encode with a nil payload succeeded")
	}
	if _, err := Encode(CmdPutUser, "x"); err == nil {
		t.Error("Encode with a string succeeded")
	}
}

func TestSnapshotRejectsCorruption(t *testing.T) {
	t.Parallel()
	f := newSeeded(t)
	good := snapshotBytes(t, f)
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-3],
		"format 2":  bytes.Replace(good, []byte(`"format":1`), []byte(`"format":2`), 1),
	} {
		g := NewFSM(nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: Restore succeeded", name)
		}
		if len(g.State().Tenants) != 0 {
			t.Errorf("%s: failed Restore changed the state", name)
		}
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	f := NewFSM(nil)
	ch, cancel := f.Watch()
	defer cancel()
	waitSignal := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("no signal after %s", what)
		}
	}
	mustApply(t, f, 1, CmdPutTenant, PutTenant{Spec: testSpec("a")})
	mustApply(t, f, 2, CmdPutTenant, PutTenant{Spec: testSpec("b")}) // coalesced with the first
	waitSignal("apply")
	select {
	case <-ch:
		t.Fatal("signals did not coalesce")
	default:
	}
	_ = apply(t, f, 3, CmdPutUser, PutUser{Tenant: "zz"}) // refused: no signal
	select {
	case <-ch:
		t.Fatal("signal after a refused command")
	default:
	}
	snap := snapshotBytes(t, f)
	if err := f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	waitSignal("restore")

	cancel()
	mustApply(t, f, 4, CmdDeleteTenant, DeleteTenant{Name: "a"})
	select {
	case <-ch:
		t.Fatal("signal after cancel")
	default:
	}
}
