package meta

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestSetDrain(t *testing.T) {
	t.Parallel()
	f := newSeeded(t)
	mustApply(t, f, 3, CmdSetDrain, SetDrain{ID: "n1", State: DrainDraining})
	if got := f.State().Members["n1"].Drain; got != DrainDraining {
		t.Fatalf("drain = %q, want draining", got)
	}
	// A put-member (a join, an address change) keeps the drain state.
	m := Member{ID: "n1", RaftAddr: "10.0.0.1:18084", AdminAddr: "10.0.0.9:8080"}
	mustApply(t, f, 4, CmdPutMember, PutMember{Member: m})
	if got := f.State().Members["n1"]; got.Drain != DrainDraining || got.AdminAddr != "10.0.0.9:8080" {
		t.Fatalf("after put-member: %+v, want the new address and still draining", got)
	}
	mustApply(t, f, 5, CmdSetDrain, SetDrain{ID: "n1", State: DrainDrained})
	// The state survives a snapshot.
	if got := snapshotRoundTrip(t, f).State().Members["n1"].Drain; got != DrainDrained {
		t.Fatalf("after a snapshot: drain = %q, want drained", got)
	}
	mustApply(t, f, 6, CmdSetDrain, SetDrain{ID: "n1"})
	if got := f.State().Members["n1"].Drain; got != DrainNone {
		t.Fatalf("drain = %q, want none", got)
	}
	if err := apply(t, f, 7, CmdSetDrain, SetDrain{ID: "zz", State: DrainDraining}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set-drain of a missing member = %v, want ErrNotFound", err)
	}
}

func TestSetDrainEncoding(t *testing.T) {
	t.Parallel()
	data, err := Encode(CmdSetDrain, SetDrain{ID: "n1", State: DrainDraining})
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x09" + `{"v":1,"id":"n1","state":"draining"}`; string(data) != want {
		t.Errorf("Encode = %q, want %q", data, want)
	}
	// A member record that was never drained keeps the form every jmqx
	// decodes: no drain field.
	data, err = Encode(CmdPutMember, PutMember{Member: Member{ID: "n1", RaftAddr: "a:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "drain") {
		t.Errorf("put-member = %s, has a drain field", data)
	}
	if CmdSetDrain.String() != "set-drain" {
		t.Errorf("String = %q", CmdSetDrain)
	}
}

func TestCheckSetDrain(t *testing.T) {
	t.Parallel()
	f := newSeeded(t)
	for _, tc := range []struct {
		name string
		cmd  cmd
		want error
	}{
		{"unknown state", cmd{CmdSetDrain, SetDrain{ID: "n1", State: "paused"}}, ErrInvalid},
		{"missing member", cmd{CmdSetDrain, SetDrain{ID: "zz", State: DrainDraining}}, ErrNotFound},
		{"put-member with a drain state", cmd{CmdPutMember, PutMember{Member: Member{ID: "n1", Drain: DrainDrained}}}, ErrInvalid},
		{"valid", cmd{CmdSetDrain, SetDrain{ID: "n1", State: DrainDrained}}, nil},
	} {
		if err := f.check(entry(t, 3, tc.cmd.t, tc.cmd.payload).Data); !errors.Is(err, tc.want) {
			t.Errorf("%s: check = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// A node of a release before set-drain stops at it and says to upgrade,
// as at every command type it does not know (see
// TestFSMStopsOnWhatItCannotApply); this one knows it.
func TestSetDrainIsNotIgnorable(t *testing.T) {
	t.Parallel()
	if CmdSetDrain&FlagIgnorable != 0 {
		t.Fatal("set-drain is ignorable: an older node would diverge silently")
	}
	f := newSeeded(t)
	res := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: []byte("\x09" + `{"v":2,"id":"n1"}`)})
	if err := asError(res); !errors.Is(err, ErrNewerVersion) {
		t.Fatalf("set-drain version 2 = %v, want ErrNewerVersion", res)
	}
}

func TestJoinKeepsTheDrainState(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 3, nil)
	ctx := testContext(t, 10*time.Second)
	leader := leaderOf(t, nodes)
	m := Member{ID: "n1", RaftAddr: nodes[1].RaftAddr(), AdminAddr: "127.0.0.1:1"}
	if err := leader.Apply(ctx, CmdPutMember, PutMember{Member: m}); err != nil {
		t.Fatal(err)
	}
	if err := leader.Apply(ctx, CmdSetDrain, SetDrain{ID: "n1", State: DrainDraining}); err != nil {
		t.Fatal(err)
	}
	before := leader.State().Index
	if err := leader.Join(ctx, m); err != nil { // the same record: nothing to write
		t.Fatal(err)
	}
	if st := leader.State(); st.Index != before || st.Members["n1"].Drain != DrainDraining {
		t.Fatalf("join again wrote index %d (was %d), drain %q", st.Index, before, st.Members["n1"].Drain)
	}
	m.AdminAddr = "127.0.0.1:2"
	if err := leader.Join(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := leader.State().Members["n1"]; got.AdminAddr != m.AdminAddr || got.Drain != DrainDraining {
		t.Fatalf("after a join with a new address: %+v", got)
	}
}

func TestTransferLeadershipSoleVoter(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 1, nil)
	leader := leaderOf(t, nodes)
	if _, err := leader.TransferLeadership(testContext(t, 10*time.Second)); !errors.Is(err, ErrSoleVoter) {
		t.Fatalf("TransferLeadership of a sole voter = %v, want ErrSoleVoter", err)
	}
	if !leader.IsLeader() {
		t.Error("the sole voter stopped leading")
	}
}

func TestTransferLeadership(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 3, nil)
	ctx := testContext(t, 20*time.Second)
	old := leaderOf(t, nodes)
	to, err := old.TransferLeadership(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if to == "" || to == old.ID() {
		t.Fatalf("TransferLeadership = %q, was %q", to, old.ID())
	}
	if old.IsLeader() {
		t.Error("the old leader still leads")
	}
	// From a follower it only reports the leader.
	if got, err := old.TransferLeadership(ctx); err != nil || got == old.ID() {
		t.Errorf("TransferLeadership on a follower = %q, %v", got, err)
	}
}

func TestWaitApplied(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 3, nil)
	ctx := testContext(t, 10*time.Second)
	leader := leaderOf(t, nodes)
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("w")}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		// A follower's commit index includes the entry once a heartbeat
		// told it; from then on WaitApplied covers it.
		eventually(t, 5*time.Second, func() error {
			if err := nd.WaitApplied(ctx); err != nil {
				return err
			}
			return hasTenants(nd.State(), "w")
		})
	}
}
