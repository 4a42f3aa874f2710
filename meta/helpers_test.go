package meta

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/jmqx/jmqx/tenant"
)

// testHash is a valid bcrypt hash (of "rasmuslerdorf").
const testHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// testSpec returns a valid spec named name.
func testSpec(name string) tenant.Spec {
	return tenant.Spec{
		Name:      name,
		Listeners: tenant.Listeners{MQTT: "1883", WS: tenant.PortAuto},
		Auth:      tenant.Auth{Users: []tenant.User{{Name: "alice", PasswordHashes: []string{testHash}}}},
		ACL:       tenant.ACL{Default: tenant.Deny, Rules: []tenant.Rule{{Action: tenant.Allow, Topic: "a/#"}}},
	}
}

// entry encodes a command as a raft log entry at index.
func entry(t testing.TB, index uint64, ct CommandType, payload any) *raft.Log {
	t.Helper()
	data, err := Encode(ct, payload)
	if err != nil {
		t.Fatalf("Encode(%s): %v", ct, err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: data}
}

// apply applies a command to f at index and returns the FSM's verdict.
func apply(t testing.TB, f *FSM, index uint64, ct CommandType, payload any) error {
	t.Helper()
	res := f.Apply(entry(t, index, ct, payload))
	if res == nil {
		return nil
	}
	err, ok := res.(error)
	if !ok {
		t.Fatalf("Apply(%s) returned %T, want error or nil", ct, res)
	}
	return err
}

// mustApply applies a command that must succeed.
func mustApply(t testing.TB, f *FSM, index uint64, ct CommandType, payload any) {
	t.Helper()
	if err := apply(t, f, index, ct, payload); err != nil {
		t.Fatalf("Apply(%s): %v", ct, err)
	}
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { return nil }

// snapshotBytes persists a snapshot of f and returns it.
func snapshotBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	return sink.Bytes()
}

// stateJSON returns st as JSON, for comparisons (map keys sorted).
func stateJSON(t testing.TB, st State) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	return string(b)
}

// snapshotRoundTrip snapshots f, restores the snapshot into a fresh FSM,
// checks that both hold the same state and that the new FSM snapshots to
// the same bytes, and returns the new FSM.
func snapshotRoundTrip(t testing.TB, f *FSM) *FSM {
	t.Helper()
	b := snapshotBytes(t, f)
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, want := stateJSON(t, g.State()), stateJSON(t, f.State()); got != want {
		t.Fatalf("restored state differs:\n got %s\nwant %s", got, want)
	}
	if b2 := snapshotBytes(t, g); !bytes.Equal(b, b2) {
		t.Fatalf("snapshot of the restored FSM differs:\n got %q\nwant %q", b2, b)
	}
	return g
}
