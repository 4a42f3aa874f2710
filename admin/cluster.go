package admin

import (
	"fmt"
	"net/http"
	"slices"
)

// statusBody is the answer of the probes.
type statusBody struct {
	Status string `json:"status"`
}

// healthz answers GET /healthz: the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	return nil
}

// readyz answers GET /readyz: 200 once the node has a leader and has
// reconciled, 503 with the reason before.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) error {
	if err := s.backend.Ready(); err != nil {
		return errorf(http.StatusServiceUnavailable, "not ready: %v", err)
	}
	writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
	return nil
}

// listMembers answers GET /v1/cluster/members, marking the answering
// node Self.
func (s *Server) listMembers(w http.ResponseWriter, _ *http.Request) error {
	members := slices.Clone(s.backend.Members())
	if members == nil {
		members = []MemberView{}
	}
	self := s.backend.NodeID()
	for i := range members {
		members[i].Self = members[i].ID == self
	}
	writeJSON(w, http.StatusOK, members)
	return nil
}

// join answers POST /v1/cluster/join: adds the member as a non-voter
// (promoted once it has caught up) and answers 200 with the members.
func (s *Server) join(w http.ResponseWriter, r *http.Request) error {
	var m MemberView
	if err := decodeJSON(w, r, &m); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{
		{"id", m.ID}, {"raft_addr", m.RaftAddr}, {"admin_addr", m.AdminAddr},
	} {
		if f.value == "" {
			return errorf(http.StatusBadRequest, "%s is required to join the cluster", f.name)
		}
	}
	if err := s.backend.Join(r.Context(), m); err != nil {
		return fmt.Errorf("join member %q (raft %s): %w", m.ID, m.RaftAddr, err)
	}
	return s.listMembers(w, r)
}

// removeMember answers DELETE /v1/cluster/members/{id}: 204, 404.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.backend.RemoveMember(r.Context(), id); err != nil {
		return fmt.Errorf("remove member %q: %w", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recordBound answers PUT /v1/tenants/{name}/nodes/{node} (a JSON object
// of listener name to "host:port"): a node reports the addresses it bound.
func (s *Server) recordBound(w http.ResponseWriter, r *http.Request) error {
	name, node := r.PathValue("name"), r.PathValue("node")
	var listeners map[string]string
	if err := decodeJSON(w, r, &listeners); err != nil {
		return err
	}
	if err := s.backend.RecordBound(r.Context(), name, node, listeners); err != nil {
		return fmt.Errorf("record the addresses of tenant %q on node %q: %w", name, node, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
