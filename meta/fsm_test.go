package meta

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
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
			// Idempotent: applying it again changes nothing but the
			// indexes (the state's, and the revision of a tenant written).
			before := f.State()
			mustApply(t, f, 5, tc.cmd.t, tc.cmd.payload)
			after := f.State()
			before.Index, after.Index = 0, 0
			before.Revisions, after.Revisions = nil, nil
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
	tests := []struct {
		name string
		cmd  cmd
		want error
	}{
		{"put user on missing tenant", cmd{CmdPutUser, PutUser{Tenant: "zz", User: tenant.User{Name: "x", PasswordHashes: []string{testHash}}}}, ErrNotFound},
		{"user without a name", cmd{CmdPutUser, PutUser{Tenant: "a"}}, ErrInvalid},
		{"remove user on missing tenant", cmd{CmdRemoveUser, RemoveUser{Tenant: "zz", Name: "x"}}, ErrNotFound},
		{"put acl on missing tenant", cmd{CmdPutACL, PutACL{Tenant: "zz"}}, ErrNotFound},
		{"if absent, different spec", cmd{CmdPutTenant, PutTenant{Spec: other, IfAbsent: true}}, ErrExists},
		{"tenant without a name", cmd{CmdPutTenant, PutTenant{}}, ErrInvalid},
		{"member without id", cmd{CmdPutMember, PutMember{Member: Member{RaftAddr: "x:1"}}}, ErrInvalid},
		{"bound on missing tenant", cmd{CmdRecordBound, RecordBound{Tenant: "zz", Node: "n1"}}, ErrNotFound},
		{"bound without node", cmd{CmdRecordBound, RecordBound{Tenant: "a"}}, ErrInvalid},
		{"put tenant, stale revision", cmd{CmdPutTenant, PutTenant{Spec: other, IfRevision: 2}}, ErrChanged},
		{"put tenant, revision of a missing tenant", cmd{CmdPutTenant, PutTenant{Spec: testSpec("zz"), IfRevision: 1}}, ErrChanged},
		{"delete tenant, stale revision", cmd{CmdDeleteTenant, DeleteTenant{Name: "a", IfRevision: 7}}, ErrChanged},
		{"put user, stale revision", cmd{CmdPutUser, PutUser{Tenant: "a", User: tenant.User{Name: "x"}, IfRevision: 9}}, ErrChanged},
		{"remove user, stale revision", cmd{CmdRemoveUser, RemoveUser{Tenant: "a", Name: "alice", IfRevision: 9}}, ErrChanged},
		{"put acl, stale revision", cmd{CmdPutACL, PutACL{Tenant: "a", IfRevision: 9}}, ErrChanged},
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

// A compare-and-set applies at the tenant's revision, which every write
// of its spec moves to the write's index.
func TestFSMCompareAndSet(t *testing.T) {
	t.Parallel()
	f := newSeeded(t) // tenant a written at index 1
	if rev := f.State().TenantRevision("a"); rev != 1 {
		t.Fatalf("revision of a = %d, want 1", rev)
	}
	spec := testSpec("a")
	spec.ACL.Default = tenant.Allow
	mustApply(t, f, 3, CmdPutTenant, PutTenant{Spec: spec, IfRevision: 1})
	if rev := f.State().TenantRevision("a"); rev != 3 {
		t.Fatalf("revision after the CAS = %d, want 3", rev)
	}
	err := apply(t, f, 4, CmdPutACL, PutACL{Tenant: "a", IfRevision: 1})
	var ce *ChangedError
	if !errors.As(err, &ce) || ce.Want != 1 || ce.Have != 3 {
		t.Fatalf("CAS at the old revision = %v, want *ChangedError{Want 1, Have 3}", err)
	}
	mustApply(t, f, 5, CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"mqtt": "1.2.3.4:1"}})
	mustApply(t, f, 6, CmdPutUser, PutUser{Tenant: "a", User: tenant.User{Name: "bob"}, IfRevision: 3}) // bound addresses are no spec write
	mustApply(t, f, 7, CmdDeleteTenant, DeleteTenant{Name: "a", IfRevision: 6})
	if _, ok := f.State().Revisions["a"]; ok {
		t.Error("a deleted tenant keeps a revision")
	}
	g := snapshotRoundTrip(t, f)
	if got := g.State().Revisions; len(got) != 0 {
		t.Errorf("restored revisions = %v", got)
	}
}

// Apply applies what was committed without re-running this release's
// validation: a spec an older, laxer release accepted still applies.
func TestFSMDoesNotRevalidate(t *testing.T) {
	t.Parallel()
	f := newSeeded(t)
	invalid := testSpec("Bad Name")
	if err := invalid.Validate(); err == nil {
		t.Fatal("the spec is valid; pick one this release refuses")
	}
	mustApply(t, f, 3, CmdPutTenant, PutTenant{Spec: invalid})
	mustApply(t, f, 4, CmdPutUser, PutUser{Tenant: "a", User: tenant.User{Name: "x"}}) // no password hash
	mustApply(t, f, 5, CmdPutACL, PutACL{Tenant: "a", ACL: tenant.ACL{Default: "maybe"}})
	mustApply(t, f, 6, CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"quic": "nope"}})
	if _, ok := f.State().Tenant("Bad Name"); !ok {
		t.Error("the committed spec was not applied")
	}
	snapshotRoundTrip(t, f)
}

// Store.Apply's check validates with this release's rules before
// proposing.
func TestCheckRefusesInvalidCommands(t *testing.T) {
	t.Parallel()
	badUser := tenant.User{Name: "x"} // no password hash
	tests := []struct {
		name string
		cmd  cmd
		want error
	}{
		{"invalid spec", cmd{CmdPutTenant, PutTenant{Spec: testSpec("Bad Name")}}, ErrInvalid},
		{"invalid user", cmd{CmdPutUser, PutUser{Tenant: "a", User: badUser}}, ErrInvalid},
		{"user on a missing tenant", cmd{CmdPutUser, PutUser{Tenant: "zz", User: badUser}}, ErrNotFound},
		{"invalid acl", cmd{CmdPutACL, PutACL{Tenant: "a", ACL: tenant.ACL{Default: "maybe"}}}, ErrInvalid},
		{"acl at a stale revision", cmd{CmdPutACL, PutACL{Tenant: "a", IfRevision: 9}}, ErrChanged},
		{"member without id", cmd{CmdPutMember, PutMember{}}, ErrInvalid},
		{"bound without node", cmd{CmdRecordBound, RecordBound{Tenant: "a"}}, ErrInvalid},
		{"bound unknown listener", cmd{CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"quic": "1.2.3.4:5"}}}, ErrInvalid},
		{"bound bad address", cmd{CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"mqtt": "nope"}}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSeeded(t)
			if err := f.check(entry(t, 3, tc.cmd.t, tc.cmd.payload).Data); !errors.Is(err, tc.want) {
				t.Fatalf("check = %v, want %v", err, tc.want)
			}
		})
	}
	f := newSeeded(t)
	for _, c := range []cmd{
		{CmdPutTenant, PutTenant{Spec: testSpec("b")}},
		{CmdRemoveUser, RemoveUser{Tenant: "a", Name: "alice"}}, // leaves no user: a removal is never refused
		{CmdPutACL, PutACL{Tenant: "a", IfRevision: 1}},
	} {
		if err := f.check(entry(t, 3, c.t, c.payload).Data); err != nil {
			t.Errorf("check(%s) = %v", c.t, err)
		}
	}
	for name, data := range map[string][]byte{
		"unknown type": {0x33, '{', '}'},
		"ignorable":    {0x80 | 0x33, '{', '}'},
		"empty":        nil,
	} {
		if err := f.check(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("check(%s) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestFSMStopsOnWhatItCannotApply(t *testing.T) {
	t.Parallel()
	put := func(payload string) []byte { return append([]byte{byte(CmdPutTenant)}, payload...) }
	tests := []struct {
		name  string
		data  []byte
		newer bool // ErrNewerVersion: "upgrade this node"
	}{
		{"unknown type", []byte{0x33, '{', '}'}, true},
		{"newer payload version", []byte(string(rune(CmdDeleteTenant)) + `{"v":3,"name":"a"}`), true},
		{"unknown field", []byte(string(rune(CmdDeleteTenant)) + `{"v":1,"name":"a","cascade":true}`), true},
		{"unknown field in the spec", put(`{"v":1,"spec":{"name":"a","colour":"red"}}`), true},
		{"newer version of a member", []byte(string(rune(CmdPutMember)) + `{"v":2,"member":{"id":"x"}}`), true},
		{"empty", nil, false},
		{"bad json", []byte{byte(CmdPutTenant), '{'}, false},
		{"no version", []byte(string(rune(CmdDeleteTenant)) + `{"name":"a"}`), false},
		{"version 1 with a version 2 field", []byte(string(rune(CmdDeleteTenant)) + `{"v":1,"name":"a","if_revision":1}`), false},
		{"data after the payload", []byte(string(rune(CmdDeleteTenant)) + `{"v":1,"name":"a"}{}`), false},
		{"bad port", put(`{"v":1,"spec":{"name":"a","listeners":{"mqtt":"x"}}}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSeeded(t)
			before := stateJSON(t, f.State())
			res := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: tc.data})
			var se *StoppedError
			if !errors.As(asError(res), &se) || se.Index != 3 {
				t.Fatalf("Apply = %v, want a *StoppedError at index 3", res)
			}
			if got := errors.Is(se, ErrNewerVersion); got != tc.newer {
				t.Errorf("Apply = %v: wraps ErrNewerVersion %v, want %v", se, got, tc.newer)
			}
			if tc.newer && !strings.Contains(se.Error(), "older jmqx than the cluster: upgrade this node") {
				t.Errorf("message %q does not say to upgrade", se)
			}
			select {
			case <-f.Stopped():
			default:
				t.Error("Stopped is not closed")
			}
			if f.Err() != se {
				t.Errorf("Err = %v, want %v", f.Err(), se)
			}
			// Every later entry is refused with the same error, unapplied.
			if res := f.Apply(entry(t, 4, CmdPutTenant, PutTenant{Spec: testSpec("b")})); res != se {
				t.Errorf("Apply after stopping = %v, want %v", res, se)
			}
			if after := stateJSON(t, f.State()); after != before {
				t.Errorf("state changed:\n got %s\nwant %s", after, before)
			}
			if _, err := f.Snapshot(); err == nil {
				t.Error("a stopped FSM snapshots")
			}
		})
	}
	f := newSeeded(t)
	for i, data := range [][]byte{{0x80 | 0x33, '{', '}'}, {0xff}} {
		if res := f.Apply(&raft.Log{Index: uint64(3 + i), Type: raft.LogCommand, Data: data}); res != nil || f.Err() != nil {
			t.Errorf("ignorable entry %q: Apply = %v, Err = %v", data, res, f.Err())
		}
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
	b, err = Encode(CmdDeleteTenant, DeleteTenant{Name: "a", IfRevision: 3})
	if want := "\x02" + `{"v":2,"name":"a","if_revision":3}`; err != nil || string(b) != want {
		t.Errorf("Encode with IfRevision = %q, %v, want %q", b, err, want)
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
		"format 0":  bytes.Replace(good, []byte(`"format":1`), []byte(`"format":0`), 1),
	} {
		g := NewFSM(nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err == nil {
			t.Errorf("%s: Restore succeeded", name)
		}
		if len(g.State().Tenants) != 0 {
			t.Errorf("%s: failed Restore changed the state", name)
		}
		if g.Err() != nil {
			t.Errorf("%s: a corrupt snapshot stopped the FSM: %v", name, g.Err())
		}
	}
}

// rawSnapshot builds a snapshot from a header and records, each a type
// and its JSON.
func rawSnapshot(head string, records ...rawRecord) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(head)))
	b = append(b, head...)
	for _, r := range append(records, rawRecord{recEnd, ""}) {
		b = append(b, byte(r.t))
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.json)))
		b = append(b, r.json...)
	}
	return b
}

type rawRecord struct {
	t    recordType
	json string
}

// A snapshot a newer release wrote stops the FSM, as an entry would.
func TestSnapshotFromANewerReleaseStops(t *testing.T) {
	t.Parallel()
	head := `{"format":1,"index":7}`
	member := rawRecord{recMember, `{"id":"n1","raft_addr":"10.0.0.1:1","admin_addr":""}`}
	for name, b := range map[string][]byte{
		"format 2":       rawSnapshot(`{"format":2,"index":7}`, member),
		"unknown header": rawSnapshot(`{"format":1,"index":7,"epoch":1}`, member),
		"unknown field":  rawSnapshot(head, rawRecord{recMember, `{"id":"n1","zone":"x"}`}),
		"unknown record": rawSnapshot(head, member, rawRecord{9, `{}`}),
	} {
		g := NewFSM(nil)
		err := g.Restore(io.NopCloser(bytes.NewReader(b)))
		if !errors.Is(err, ErrNewerVersion) || g.Err() == nil {
			t.Errorf("%s: Restore = %v, Err = %v; want ErrNewerVersion and a stopped FSM", name, err, g.Err())
		}
		if len(g.State().Members) != 0 {
			t.Errorf("%s: failed Restore changed the state", name)
		}
	}
	// An ignorable record is skipped.
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(rawSnapshot(head, member, rawRecord{0x89, `{"x":1}`})))); err != nil || len(g.State().Members) != 1 {
		t.Errorf("ignorable record: Restore = %v, members %v", err, g.State().Members)
	}
}

// Tenant records of the first kind (a bare spec) restore at the
// snapshot's index as their revision.
func TestSnapshotVersion1TenantRecords(t *testing.T) {
	t.Parallel()
	spec, err := json.Marshal(testSpec("a"))
	if err != nil {
		t.Fatal(err)
	}
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(rawSnapshot(`{"format":1,"index":7}`, rawRecord{recTenant, string(spec)})))); err != nil {
		t.Fatal(err)
	}
	if rev := g.State().TenantRevision("a"); rev != 7 {
		t.Errorf("revision = %d, want 7", rev)
	}
	snapshotRoundTrip(t, g)
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
