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
		{ID: "n1", Role: "leader", RaftAddr: "10.0.0.1:7000", AdminAddr: "10.0.0.1:18083", Voter: true, Healthy: true},
		{ID: "n2", Role: "follower", RaftAddr: "10.0.0.2:7000", AdminAddr: "10.0.0.2:18083", Voter: true},
	}
	r := mustRun(t, f, "", "cluster", "members")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID ROLE RAFT ADMIN VOTER HEALTHY" ||
		strings.Join(strings.Fields(lines[2]), " ") != "n2 follower 10.0.0.2:7000 10.0.0.2:18083 yes no" {
		t.Errorf("members:\n%s", r.stdout)
	}
	r = mustRun(t, f, "", "cluster", "--json", "members")
	var ms []map[string]any
	checkJSON(t, r.stdout, &ms)
	if len(ms) != 2 || ms[0]["id"] != "n1" || ms[0]["role"] != "leader" || ms[0]["raft_addr"] != "10.0.0.1:7000" ||
		ms[0]["admin_addr"] != "10.0.0.1:18083" || ms[1]["healthy"] != false {
		t.Errorf("members --json = %v", ms)
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
