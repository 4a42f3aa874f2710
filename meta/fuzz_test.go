package meta

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/jmqx/jmqx/tenant"
)

// fuzzSeedCmds are valid commands of every type.
func fuzzSeedCmds(t testing.TB) [][]byte {
	cmds := []cmd{
		{CmdPutTenant, PutTenant{Spec: testSpec("b"), IfAbsent: true}},
		{CmdDeleteTenant, DeleteTenant{Name: "a"}},
		{CmdPutUser, PutUser{Tenant: "a", User: tenant.User{Name: "bob", PasswordHashes: []string{testHash}}}},
		{CmdRemoveUser, RemoveUser{Tenant: "a", Name: "alice"}},
		{CmdPutACL, PutACL{Tenant: "a", ACL: tenant.ACL{Default: tenant.Allow}}},
		{CmdPutMember, PutMember{Member: Member{ID: "n2", RaftAddr: "10.0.0.2:1"}}},
		{CmdRemoveMember, RemoveMember{ID: "n1"}},
		{CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"mqtt": "1.2.3.4:1883"}}},
		{CmdPutACL, PutACL{Tenant: "a", ACL: tenant.ACL{Default: tenant.Deny}, IfRevision: 1}},
		{CmdDeleteTenant, DeleteTenant{Name: "a", IfRevision: 2}},
		{CmdSetDrain, SetDrain{ID: "n1", State: DrainDraining}},
	}
	var out [][]byte
	for _, c := range cmds {
		out = append(out, entry(t, 1, c.t, c.payload).Data)
	}
	return out
}

// FuzzApply applies arbitrary bytes as a log entry to a seeded FSM: Apply
// must never panic; it applies, refuses with an error, or stops the FSM
// with a *StoppedError and changes nothing; and the state must survive a
// snapshot round trip.
func FuzzApply(f *testing.F) {
	for _, data := range fuzzSeedCmds(f) {
		f.Add(data)
	}
	f.Add([]byte{0x80 | 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := newSeeded(t)
		before := stateJSON(t, fsm.State())
		res := fsm.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: data})
		if res != nil {
			err, ok := res.(error)
			if !ok {
				t.Fatalf("Apply returned %T", res)
			}
			var se *StoppedError
			if errors.As(err, &se) {
				if fsm.Err() != err || stateJSON(t, fsm.State()) != before {
					t.Fatalf("stopped with %v: Err %v, state changed %v", err, fsm.Err(), stateJSON(t, fsm.State()) != before)
				}
				return
			}
		}
		snapshotRoundTrip(t, fsm)
	})
}

// FuzzRestore restores arbitrary bytes: Restore must return an error or
// succeed, never panic; a restored state must snapshot stably.
func FuzzRestore(f *testing.F) {
	seeded := newSeeded(f)
	mustApply(f, seeded, 3, CmdRecordBound, RecordBound{Tenant: "a", Node: "n1", Listeners: map[string]string{"ws": "1.2.3.4:80"}})
	mustApply(f, seeded, 4, CmdSetDrain, SetDrain{ID: "n1", State: DrainDrained})
	f.Add(snapshotBytes(f, seeded))
	f.Add(snapshotBytes(f, NewFSM(nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := NewFSM(nil)
		if err := fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			return
		}
		snapshotRoundTrip(t, fsm)
	})
}
