package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// Drain states of a member, as MemberView.Drain and DrainView.Drain show
// them.
const (
	// DrainDraining: the node refuses new connections, sends its clients
	// to other members and hands its sessions over.
	DrainDraining = "draining"
	// DrainDrained: the node holds no client and no forward in flight;
	// cluster remove takes it out with nothing lost.
	DrainDrained = "drained"
)

// DrainBackend is what the drain route needs of a Backend; a Backend
// without it answers the route with 501.
type DrainBackend interface {
	// Drain sets the drain state of member id (leader only; the Server
	// forwards it): DrainDraining starts a drain, DrainDrained is what
	// the node reports once it is empty (only after DrainDraining,
	// ErrInvalid otherwise). Draining a node again is harmless. When id
	// is the leader answering, leadership moves to another voter first.
	Drain(ctx context.Context, id, state string) (DrainView, error)
	// DrainState returns the drain state of member id: "" when it serves
	// (or is unknown), DrainDraining or DrainDrained.
	DrainState(id string) string
}

// DrainRequest is the body of POST /v1/cluster/members/{id}/drain; an
// empty body is {"state":"draining"}.
type DrainRequest struct {
	// State is DrainDraining (the default), or DrainDrained, which the
	// drained node itself sends once it is empty.
	State string `json:"state,omitempty"`
}

// DrainView is the answer of POST /v1/cluster/members/{id}/drain.
type DrainView struct {
	// ID is the member's.
	ID string `json:"id"`
	// Drain is its drain state now: "draining" or "drained".
	Drain string `json:"drain"`
	// LeadershipMovedTo is the member that leads now, set when the
	// drained member led and handed leadership over first.
	LeadershipMovedTo string `json:"leadership_moved_to,omitempty"`
}

// drainMember answers POST /v1/cluster/members/{id}/drain: 200 with a
// DrainView, 404 for an unknown member, 400 for an unknown state.
func (s *Server) drainMember(w http.ResponseWriter, r *http.Request) error {
	d, ok := s.backend.(DrainBackend)
	if !ok {
		return errorf(http.StatusNotImplemented, "this node cannot drain members")
	}
	id := r.PathValue("id")
	req := DrainRequest{}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.State == "" {
		req.State = DrainDraining
	}
	if req.State != DrainDraining && req.State != DrainDrained {
		return errorf(http.StatusBadRequest, "unknown drain state %q: want %q or %q", req.State, DrainDraining, DrainDrained)
	}
	v, err := d.Drain(r.Context(), id, req.State)
	if err != nil {
		return fmt.Errorf("drain member %q: %w", id, err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// removeUndrained answers DELETE /v1/cluster/members/{id}[?force=true]:
// as removeMember, but it refuses (409) a member that is still draining,
// whose sessions and forwards are not all handed over yet, unless force.
func (s *Server) removeUndrained(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	force := r.URL.Query().Get("force")
	if force != "" && force != "true" && force != "false" {
		return errorf(http.StatusBadRequest, "force=%q: want true or false", force)
	}
	if d, ok := s.backend.(DrainBackend); ok && force != "true" && d.DrainState(id) == DrainDraining {
		return errorf(http.StatusConflict, "member %q is still draining: wait until cluster members shows it drained, "+
			"or remove it anyway with force (what it has not handed over yet is lost)", id)
	}
	return s.removeMember(w, r)
}

// Drain starts draining member id (see DrainBackend.Drain), or, with
// state DrainDrained, reports it drained.
func (c *Client) Drain(ctx context.Context, id, state string) (DrainView, error) {
	var out DrainView
	return out, c.do(ctx, http.MethodPost, "/v1/cluster/members/"+url.PathEscape(id)+"/drain", DrainRequest{State: state}, &out)
}

// RemoveMemberForce removes a member from the cluster even while it is
// still draining.
func (c *Client) RemoveMemberForce(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/cluster/members/"+url.PathEscape(id)+"?force=true", nil, nil)
}
