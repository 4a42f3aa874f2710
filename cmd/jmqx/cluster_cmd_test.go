package main

import (
	"strings"
	"testing"

	"github.com/jmqx/jmqx/admin"
)

func TestClusterMembers(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	f.members = []admin.MemberView{
		{ID: "n1", Role: "leader", RaftAddr: "10.0.0.1:7000", AdminAddr: "10.0.0.1:18083", GossipAddr: "10.0.0.1:18085",
			ClusterAddr: "10.0.0.1:18086", Voter: true, Healthy: true, Gossip: "alive", Link: "self"},
		{ID: "n2", Role: "follower", RaftAddr: "10.0.0.2:7000", AdminAddr: "10.0.0.2:18083", GossipAddr: "10.0.0.2:18085",
			ClusterAddr: "10.0.0.2:18086", Voter: true, Gossip: "suspect", Link: "connecting", Drain: "draining"},
		{ID: "n3", Role: "follower", RaftAddr: "10.0.0.3:7000", AdminAddr: "10.0.0.3:18083", Voter: true}, // unknown
	}
	r := mustRun(t, f, "", "cluster", "members")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID ROLE RAFT ADMIN VOTER HEALTHY GOSSIP LINK DRAIN" ||
		strings.Join(strings.Fields(lines[2]), " ") != "n2 follower 10.0.0.2:7000 10.0.0.2:18083 yes no suspect connecting draining" ||
		strings.Join(strings.Fields(lines[3]), " ") != "n3 follower 10.0.0.3:7000 10.0.0.3:18083 yes no - - -" {
		t.Errorf("members:\n%s", r.stdout)
	}
	r = mustRun(t, f, "", "cluster", "--json", "members")
	var ms []map[string]any
	checkJSON(t, r.stdout, &ms)
	if len(ms) != 3 || ms[0]["id"] != "n1" || ms[0]["role"] != "leader" || ms[0]["raft_addr"] != "10.0.0.1:7000" ||
		ms[0]["admin_addr"] != "10.0.0.1:18083" || ms[1]["healthy"] != false || ms[0]["gossip_addr"] != "10.0.0.1:18085" ||
		ms[0]["cluster_addr"] != "10.0.0.1:18086" || ms[0]["gossip"] != "alive" || ms[0]["link"] != "self" ||
		ms[1]["drain"] != "draining" {
		t.Errorf("members --json = %v", ms)
	}
	// Unknown states are "" in JSON, and a member without a data plane has no addresses for it.
	if _, ok := ms[2]["gossip_addr"]; ok || ms[2]["gossip"] != "" || ms[2]["link"] != "" {
		t.Errorf("members --json: n3 = %v, want gossip and link \"\" and no gossip_addr", ms[2])
	}
	if _, ok := ms[0]["drain"]; ok {
		t.Errorf("members --json: n1 = %v, has a drain field while it serves", ms[0])
	}
	if r := mustRun(t, newFakeAdmin(), "", "cluster", "members", "--json"); r.stdout != "[]\n" {
		t.Errorf("no members --json = %q", r.stdout)
	}
}

func TestClusterRemove(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	f.members = []admin.MemberView{{ID: "n1"}, {ID: "n2"}}
	r := mustRun(t, f, "", "cluster", "remove", "n2")
	if !strings.Contains(r.stdout, "member n2 removed") || len(f.members) != 1 {
		t.Errorf("remove printed %q; members %v", r.stdout, f.members)
	}
	mustFail(t, f, "", `member "n2" not found`, "cluster", "remove", "n2")
}
