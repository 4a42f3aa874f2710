package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmqx/jmqx/admin"
)

var _ drainAPI = (*fakeAdmin)(nil)

// Drain marks the member draining; a leader reports leadership moved to
// the next member.
func (f *fakeAdmin) Drain(_ context.Context, id, state string) (admin.DrainView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return admin.DrainView{}, f.fail
	}
	i := slices.IndexFunc(f.members, func(m admin.MemberView) bool { return m.ID == id })
	if i < 0 {
		return admin.DrainView{}, notFound("member", id)
	}
	f.wrote("Drain " + id + " " + state)
	f.members = slices.Clone(f.members) // Members hands out f.members itself
	v := admin.DrainView{ID: id, Drain: state}
	if f.members[i].Drain != "" {
		v.Drain = f.members[i].Drain
		return v, nil
	}
	if f.members[i].Role == "leader" && i+1 < len(f.members) {
		f.members[i].Role, f.members[i+1].Role = "follower", "leader"
		v.LeadershipMovedTo = f.members[i+1].ID
	}
	f.members[i].Drain = state
	return v, nil
}

func (f *fakeAdmin) RemoveMemberForce(ctx context.Context, id string) error {
	f.mu.Lock()
	f.wrote("force")
	f.mu.Unlock()
	return f.RemoveMember(ctx, id)
}

// drainedAfterAsked sets member id's drain state once cluster drain has asked for
// it, as the drained node would once empty.
func (f *fakeAdmin) drainedAfterAsked(id string) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		f.mu.Lock()
		if slices.Contains(f.writes, "Drain "+id+" draining") {
			ms := slices.Clone(f.members) // Members hands out f.members itself
			for i := range ms {
				if ms[i].ID == id {
					ms[i].Drain = admin.DrainDrained
				}
			}
			f.members = ms
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
}

func TestClusterDrain(t *testing.T) {
	t.Parallel()
	members := func() []admin.MemberView {
		return []admin.MemberView{{ID: "n1", Role: "leader"}, {ID: "n2", Role: "follower"}, {ID: "n3", Role: "follower"}}
	}
	f := newFakeAdmin()
	f.members = members()
	r := mustRun(t, f, "", "cluster", "drain", "--no-wait", "n2")
	f.mu.Lock()
	if r.stdout != "node n2 is draining\n" || f.members[1].Drain != "draining" {
		t.Errorf("drain --no-wait printed %q; members %+v", r.stdout, f.members)
	}
	f.mu.Unlock()
	// Waits until drained; a leader hands leadership over first.
	f = newFakeAdmin()
	f.members = members()
	go f.drainedAfterAsked("n1")
	r = mustRun(t, f, "", "cluster", "drain", "n1")
	want := "node n1 is draining (it led: leadership moved to n2)\nnode n1 is drained: remove it with jmqx cluster remove n1\n"
	if r.stdout != want {
		t.Errorf("drain printed %q, want %q", r.stdout, want)
	}
	r = mustRun(t, f, "", "cluster", "members")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); strings.Join(strings.Fields(lines[1]), " ") != "n1 follower - - no no - - drained" {
		t.Errorf("members after the drain:\n%s", r.stdout)
	}
	// --json prints the final state only.
	f = newFakeAdmin()
	f.members = members()
	go f.drainedAfterAsked("n1")
	r = mustRun(t, f, "", "cluster", "drain", "--json", "n1")
	var v map[string]any
	checkJSON(t, r.stdout, &v)
	if v["id"] != "n1" || v["drain"] != "drained" || v["leadership_moved_to"] != "n2" {
		t.Errorf("drain --json = %v", v)
	}
	// A node that does not get drained in time.
	f = newFakeAdmin()
	f.members = members()
	r = runClient(t, f, "", "cluster", "drain", "--timeout", "300ms", "n3")
	if r.err == nil || !strings.Contains(r.err.Error(), "node n3 is still draining after 300ms") {
		t.Errorf("drain with a timeout = %v", r.err)
	}
	mustFail(t, f, "", `member "zz" not found`, "cluster", "drain", "zz")
	mustFail(t, f, "", "NODE", "cluster", "drain")
}

func TestClusterRemoveForce(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin()
	f.members = []admin.MemberView{{ID: "n1"}, {ID: "n2", Drain: "draining"}}
	r := mustRun(t, f, "", "cluster", "remove", "--force", "n2")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !strings.Contains(r.stdout, "member n2 removed") || !slices.Contains(f.writes, "force") || len(f.members) != 1 {
		t.Errorf("remove --force printed %q; writes %v", r.stdout, f.writes)
	}
}
