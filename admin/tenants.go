package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jmqx/jmqx/tenant"
)

// peerTimeout bounds the status request to each other member.
const peerTimeout = 2 * time.Second

// listTenants answers GET /v1/tenants.
func (s *Server) listTenants(w http.ResponseWriter, _ *http.Request) error {
	views := s.backend.Tenants()
	out := make([]TenantView, len(views))
	for i, v := range views {
		out[i] = v.normalized()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getTenant answers GET /v1/tenants/{name}.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) error {
	v, err := s.tenant(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v.normalized())
	return nil
}

// createTenant answers POST /v1/tenants: 201, or 409 when a different
// tenant of that name exists.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	var spec tenant.Spec
	if err := decodeJSON(w, r, &spec); err != nil {
		return err
	}
	if err := validateSpec(spec); err != nil {
		return err
	}
	if err := s.backend.PutTenant(r.Context(), spec, true); err != nil {
		return fmt.Errorf("create tenant %q: %w", spec.Name, err)
	}
	writeJSON(w, http.StatusCreated, s.viewAfterWrite(spec))
	return nil
}

// putTenant answers PUT /v1/tenants/{name}: create or replace. The name
// in the body must be empty or match the path.
func (s *Server) putTenant(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var spec tenant.Spec
	if err := decodeJSON(w, r, &spec); err != nil {
		return err
	}
	if spec.Name == "" {
		spec.Name = name
	}
	if spec.Name != name {
		return errorf(http.StatusBadRequest, "tenant name %q in the body does not match %q in the path", spec.Name, name)
	}
	if err := validateSpec(spec); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if rev := ifMatch(r); rev != "" {
		if cb, ok := s.backend.(ConditionalBackend); ok {
			if err := cb.PutTenantIf(r.Context(), spec, rev); err != nil {
				return fmt.Errorf("put tenant %q if at revision %s: %w", name, rev, err)
			}
			writeJSON(w, http.StatusOK, s.viewAfterWrite(spec))
			return nil
		}
	}
	if err := s.checkRevision(r, name); err != nil {
		return err
	}
	if err := s.backend.PutTenant(r.Context(), spec, false); err != nil {
		return fmt.Errorf("put tenant %q: %w", name, err)
	}
	writeJSON(w, http.StatusOK, s.viewAfterWrite(spec))
	return nil
}

// deleteTenant answers DELETE /v1/tenants/{name}: 204, or 404.
func (s *Server) deleteTenant(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.tenant(name); err != nil {
		return err
	}
	if err := s.backend.DeleteTenant(r.Context(), name); err != nil {
		return fmt.Errorf("delete tenant %q: %w", name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tenantStatus answers GET /v1/tenants/{name}/status: this node's figures
// and, asked concurrently, every other member's. A member that cannot be
// asked gets an entry with Error set.
func (s *Server) tenantStatus(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := s.tenant(name); err != nil {
		return err
	}
	self := s.backend.NodeID()
	out := []NodeStatus{s.localStatus(name)}
	var peers []MemberView
	for _, m := range s.backend.Members() {
		if m.ID != self {
			peers = append(peers, m)
		}
	}
	remote := make([]NodeStatus, len(peers))
	auth := s.peerAuthorization(r)
	var wg sync.WaitGroup
	for i, m := range peers {
		wg.Go(func() {
			st, err := s.peerStatus(r.Context(), m, name, auth)
			if err != nil {
				st = NodeStatus{Node: m.ID, Error: err.Error()}
			}
			remote[i] = st.normalized()
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, append(out, remote...))
	return nil
}

// localTenantStatus answers GET /v1/local/tenants/{name}/status: this
// node's figures only, 404 when the tenant does not run here.
func (s *Server) localTenantStatus(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	st, ok := s.backend.LocalStatus(name)
	if !ok {
		return errorf(http.StatusNotFound, "tenant %q is not running on node %q", name, s.backend.NodeID())
	}
	if st.Node == "" {
		st.Node = s.backend.NodeID()
	}
	writeJSON(w, http.StatusOK, st.normalized())
	return nil
}

// localStatus is this node's entry of a status answer.
func (s *Server) localStatus(name string) NodeStatus {
	self := s.backend.NodeID()
	st, ok := s.backend.LocalStatus(name)
	if !ok {
		return NodeStatus{Node: self, Error: "tenant is not running on this node"}.normalized()
	}
	if st.Node == "" {
		st.Node = self
	}
	return st.normalized()
}

// peerStatus asks member m for its figures for tenant name, within
// peerTimeout.
func (s *Server) peerStatus(ctx context.Context, m MemberView, name, auth string) (NodeStatus, error) {
	if m.AdminAddr == "" {
		return NodeStatus{}, errors.New("no admin address recorded for this member")
	}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	target := s.peerURL(m.AdminAddr) + "/v1/local/tenants/" + url.PathEscape(name) + "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return NodeStatus{}, fmt.Errorf("status request to %s: %w", m.AdminAddr, err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.peers.Do(req)
	if err != nil {
		return NodeStatus{}, fmt.Errorf("cannot reach %s: %v", m.AdminAddr, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return NodeStatus{}, responseError(resp)
	}
	var st NodeStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return NodeStatus{}, fmt.Errorf("status from %s: invalid JSON: %w", m.AdminAddr, err)
	}
	if st.Node == "" {
		st.Node = m.ID
	}
	return st, nil
}

// tenant returns the named tenant or a 404 error.
func (s *Server) tenant(name string) (TenantView, error) {
	v, ok := s.backend.Tenant(name)
	if !ok {
		return TenantView{}, errorf(http.StatusNotFound, "tenant %q does not exist", name)
	}
	return v, nil
}

// ConditionalBackend is implemented by a Backend that decides a
// conditional write (If-Match) in the same atomic step that commits it: in
// the replicated log itself, against the state every earlier committed
// write left, on this leader or a former one. Without it the API compares
// against the Backend's view before writing (checkRevision), and a write
// committed meanwhile by a former leader can be lost. The methods are
// called concurrently; they may block until the write is committed and
// must honour ctx. revision is a TenantView.Revision; the write fails with
// ErrChanged (412) when the tenant no longer exists or is at another
// revision when the write commits.
type ConditionalBackend interface {
	// PutTenantIf replaces the tenant spec.Name with spec if it is at
	// revision.
	PutTenantIf(ctx context.Context, spec tenant.Spec, revision string) error
	// PutACLIf replaces the ACL of tenantName if the tenant is at revision.
	PutACLIf(ctx context.Context, tenantName string, acl tenant.ACL, revision string) error
}

// ifMatch returns a request's If-Match revision, "" if none.
func ifMatch(r *http.Request) string {
	return strings.Trim(r.Header.Get("If-Match"), `"`)
}

// checkRevision enforces a request's If-Match against the Backend's
// current view: the tenant must still be at that revision (412 otherwise,
// also when it does not exist). s.writeMu held, so that no other write of
// this node (the leader's, where every write lands) comes between the
// check and the write; a write a former leader committed can, though, so
// writes go through a ConditionalBackend where there is one.
func (s *Server) checkRevision(r *http.Request, name string) error {
	want := ifMatch(r)
	if want == "" {
		return nil
	}
	v, ok := s.backend.Tenant(name)
	if !ok {
		return fmt.Errorf("tenant %q no longer exists: %w", name, ErrChanged)
	}
	if got := Revision(v.Spec); got != want {
		return fmt.Errorf("tenant %q changed since it was read (revision %s, now %s); read it again and retry: %w", name, want, got, ErrChanged)
	}
	return nil
}

// viewAfterWrite is the answer to a tenant write: the stored view, or the
// spec written if the Backend does not show it yet.
func (s *Server) viewAfterWrite(spec tenant.Spec) TenantView {
	if v, ok := s.backend.Tenant(spec.Name); ok {
		return v.normalized()
	}
	return TenantView{Name: spec.Name, Spec: spec}.normalized()
}

// validateSpec checks spec before it is written: 400 with every problem
// on one line.
func validateSpec(spec tenant.Spec) error {
	if err := spec.Validate(); err != nil {
		return &apiError{status: http.StatusBadRequest, msg: strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return nil
}
