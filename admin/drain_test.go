package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

var _ DrainBackend = (*fakeBackend)(nil)

// Drain records the drain state as the node does: drained only after
// draining, and draining again changes nothing.
func (f *fakeBackend) Drain(_ context.Context, id, state string) (DrainView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.members, func(m MemberView) bool { return m.ID == id })
	switch {
	case i < 0:
		return DrainView{}, fmt.Errorf("member %q: %w", id, ErrNotFound)
	case state == DrainDrained && f.members[i].Drain == "":
		return DrainView{}, fmt.Errorf("member %q is not draining: %w", id, ErrInvalid)
	case state == DrainDraining && f.members[i].Drain != "":
		return DrainView{ID: id, Drain: f.members[i].Drain}, nil
	}
	f.members[i].Drain = state
	return DrainView{ID: id, Drain: state}, nil
}

func (f *fakeBackend) DrainState(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.IndexFunc(f.members, func(m MemberView) bool { return m.ID == id }); i >= 0 {
		return f.members[i].Drain
	}
	return ""
}

// POST /v1/cluster/members/{id}/drain records the drain (through the
// leader), the members list shows it, and DELETE refuses a member still
// draining unless force.
func TestDrainRoute(t *testing.T) {
	t.Parallel()
	leaderB, followerB := newFakeBackend("n1"), newFakeBackend("n2")
	leaderB.members = append(leaderB.members, MemberView{ID: "n2", Role: "follower"}, MemberView{ID: "n3", Role: "follower"})
	leader, lc := startServer(t, leaderB, Config{})
	_, fc := startServer(t, followerB, Config{})
	followerB.setFollowerOf(leader.Addr().String())
	ctx := t.Context()

	if _, err := fc.Drain(ctx, "zz", DrainDraining); !errors.Is(err, ErrNotFound) {
		t.Fatalf("drain of an unknown member = %v, want ErrNotFound", err)
	}
	if _, err := fc.Drain(ctx, "n2", DrainDrained); !errors.Is(err, ErrInvalid) {
		t.Fatalf("drained before draining = %v, want ErrInvalid", err)
	}
	v, err := fc.Drain(ctx, "n2", DrainDraining) // forwarded to the leader
	if err != nil || v != (DrainView{ID: "n2", Drain: DrainDraining}) {
		t.Fatalf("Drain = %+v, %v", v, err)
	}
	if got := leaderB.DrainState("n2"); got != DrainDraining {
		t.Fatalf("the leader recorded %q", got)
	}
	ms, err := lc.Members(ctx)
	if err != nil || ms[1].ID != "n2" || ms[1].Drain != DrainDraining || ms[2].Drain != "" {
		t.Fatalf("Members = %+v, %v", ms, err)
	}
	// An empty body is a drain; a bad state is refused.
	body := expect(t, leader, http.StatusOK, http.MethodPost, "/v1/cluster/members/n3/drain", "")
	if !strings.Contains(body, `"drain":"draining"`) || strings.Contains(body, "leadership_moved_to") {
		t.Errorf("drain answered %s", body)
	}
	expect(t, leader, http.StatusBadRequest, http.MethodPost, "/v1/cluster/members/n3/drain", `{"state":"paused"}`)
	expect(t, leader, http.StatusBadRequest, http.MethodPost, "/v1/cluster/members/n3/drain", `{"stat":"drained"}`)

	// Still draining: no removal unless forced.
	err = fc.RemoveMember(ctx, "n2")
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "still draining") {
		t.Fatalf("remove of a draining member = %v, want 409 still draining", err)
	}
	expect(t, leader, http.StatusBadRequest, http.MethodDelete, "/v1/cluster/members/n2?force=maybe", "")
	if _, err := fc.Drain(ctx, "n2", DrainDrained); err != nil {
		t.Fatal(err)
	}
	if v, err := fc.Drain(ctx, "n2", DrainDraining); err != nil || v.Drain != DrainDrained {
		t.Fatalf("draining a drained member = %+v, %v; want it left drained", v, err)
	}
	if err := fc.RemoveMember(ctx, "n2"); err != nil {
		t.Fatalf("remove of a drained member: %v", err)
	}
	if err := fc.RemoveMemberForce(ctx, "n3"); err != nil {
		t.Fatalf("forced remove of a draining member: %v", err)
	}
	if ms, _ := lc.Members(ctx); len(ms) != 1 {
		t.Fatalf("members after the removals: %+v", ms)
	}
}

// A Backend without DrainBackend answers the route with 501.
func TestDrainRouteUnsupported(t *testing.T) {
	t.Parallel()
	s, _ := startServer(t, struct{ Backend }{newFakeBackend("n1")}, Config{})
	expect(t, s, http.StatusNotImplemented, http.MethodPost, "/v1/cluster/members/n1/drain", "")
}
