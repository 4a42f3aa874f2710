package meta

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// shortNonvoterTimeout makes the leader give up on silent non-voters
// quickly.
func shortNonvoterTimeout(c *Config) { c.NonvoterTimeout = 300 * time.Millisecond }

// server returns id's entry in s's configuration, if any.
func server(t *testing.T, s *Store, id string) (Server, bool) {
	t.Helper()
	servers, err := s.Servers()
	if err != nil {
		t.Fatalf("Servers: %v", err)
	}
	for _, srv := range servers {
		if srv.ID == id {
			return srv, true
		}
	}
	return Server{}, false
}

// removed reports, as an error, whether id is still in s's configuration
// or member records.
func removed(t *testing.T, s *Store, id string) error {
	if srv, ok := server(t, s, id); ok {
		return fmt.Errorf("%s is still in the configuration: %+v", id, srv)
	}
	if m, ok := s.State().Members[id]; ok {
		return fmt.Errorf("%s is still a member: %+v", id, m)
	}
	return nil
}

// A join at an address nobody answers leaves a one-node cluster writable;
// the phantom never votes and is removed after NonvoterTimeout.
func TestJoinOfAPhantomKeepsTheQuorum(t *testing.T) {
	t.Parallel()
	leader := startMemCluster(t, 1, shortNonvoterTimeout)[0]
	ctx := testContext(t, 20*time.Second)

	phantom := Member{ID: "phantom", RaftAddr: string(inmemAddr()), AdminAddr: "10.9.9.9:1"}
	if err := leader.Join(ctx, phantom); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if srv, ok := server(t, leader.Store, "phantom"); !ok || srv.Voter {
		t.Fatalf("phantom after Join: %+v, %v; want a non-voter", srv, ok)
	}
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("still-writable")}); err != nil {
		t.Fatalf("write after the phantom joined: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := leader.WaitVoter(wctx, "phantom"); err == nil {
		t.Fatal("the phantom became a voter")
	}
	eventually(t, 5*time.Second, func() error { return removed(t, leader.Store, "phantom") })
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("after-removal")}); err != nil {
		t.Fatalf("write after the phantom was removed: %v", err)
	}
}

// A node that joins is promoted once it has caught up, and has the state.
func TestJoinPromotesANodeThatCaughtUp(t *testing.T) {
	t.Parallel()
	leader := startMemCluster(t, 1, nil)[0]
	ctx := testContext(t, 20*time.Second)
	for _, name := range []string{"a", "b", "c"} {
		if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec(name)}); err != nil {
			t.Fatal(err)
		}
	}
	joiner := startMemNode(t, fastConfig("n1"), leader)
	m := Member{ID: "n1", RaftAddr: joiner.RaftAddr(), AdminAddr: "127.0.0.1:2"}
	if err := leader.Join(ctx, m); err != nil {
		t.Fatalf("Join: %v", err)
	}
	if err := leader.WaitVoter(ctx, "n1"); err != nil {
		t.Fatalf("WaitVoter: %v", err)
	}
	if err := hasTenants(joiner.State(), "a", "b", "c"); err != nil {
		t.Errorf("promoted before catching up: %v", err)
	}
	if got := leader.State().Members["n1"]; got != m {
		t.Errorf("member record = %+v, want %+v", got, m)
	}
	if err := leader.Join(ctx, m); err != nil { // again: harmless
		t.Errorf("Join again: %v", err)
	}
	if srv, _ := server(t, leader.Store, "n1"); !srv.Voter {
		t.Errorf("n1 after joining again: %+v", srv)
	}
}

// An address that answers as another node is no answer: the joiner is
// never promoted.
func TestJoinAtAnotherNodesAddressIsNotPromoted(t *testing.T) {
	t.Parallel()
	leader := startMemCluster(t, 1, shortNonvoterTimeout)[0]
	ctx := testContext(t, 20*time.Second)
	other := startMemNode(t, fastConfig("other"), leader) // up, but never joined
	if err := leader.Join(ctx, Member{ID: "ghost", RaftAddr: other.RaftAddr()}); err != nil {
		t.Fatalf("Join: %v", err)
	}
	eventually(t, 5*time.Second, func() error { return removed(t, leader.Store, "ghost") })
	if servers, _ := leader.Servers(); len(servers) != 1 {
		t.Errorf("servers = %+v", servers)
	}
}

func TestJoinRefusals(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 2, nil)
	ctx := testContext(t, 10*time.Second)
	for _, tc := range []struct {
		name string
		m    Member
		want error
	}{
		{"a voter at another address", Member{ID: "n1", RaftAddr: "10.0.0.9:1"}, ErrExists},
		{"another node's address", Member{ID: "n9", RaftAddr: nodes[1].RaftAddr()}, ErrExists},
		{"no raft address", Member{ID: "n9"}, ErrInvalid},
	} {
		if err := nodes[0].Join(ctx, tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: Join = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := nodes[1].Join(ctx, Member{ID: "n9", RaftAddr: "10.0.0.9:1"}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Join on a follower = %v, want ErrNotLeader", err)
	}
}

// The leader repairs what a crash between the two halves of a join or a
// removal leaves: a non-voter without a member record, a member record
// without a server.
func TestMembershipRepairsHalfDoneChanges(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 1, shortNonvoterTimeout)
	leader := nodes[0]
	ctx := testContext(t, 20*time.Second)
	if err := leader.Apply(ctx, CmdPutMember, PutMember{Member: Member{ID: "gone", RaftAddr: "10.0.0.8:1"}}); err != nil {
		t.Fatal(err)
	}
	joiner := startMemNode(t, fastConfig("half"), leader)
	if err := leader.raft.AddNonvoter("half", raft.ServerAddress(joiner.RaftAddr()), 0, time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if err := removed(t, leader.Store, "gone"); err != nil {
			return err
		}
		return removed(t, leader.Store, "half")
	})
}
