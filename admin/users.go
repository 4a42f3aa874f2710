package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/jmqx/jmqx/tenant"
)

// The user and ACL handlers read the current spec from the Backend,
// change a copy, validate the whole result and write the part that
// changed. They hold s.writeMu so that two of them on this node (the
// leader, since writes are forwarded there) cannot lose each other's
// change.

// credentialRequest is the body of a user creation or rotation: exactly
// one of Password (hashed here) and PasswordHash.
type credentialRequest struct {
	Name         string `json:"name,omitempty"`
	Password     string `json:"password,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
	RevokeOld    bool   `json:"revoke_old,omitempty"`
}

// hash returns the request's password hash, hashing a plain password.
func (c credentialRequest) hash() (string, error) {
	switch {
	case c.Password != "" && c.PasswordHash != "":
		return "", errorf(http.StatusBadRequest, "give either password or password_hash, not both")
	case c.PasswordHash != "":
		return c.PasswordHash, nil
	case c.Password != "":
		h, err := tenant.HashPassword([]byte(c.Password))
		if err != nil {
			return "", errorf(http.StatusBadRequest, "cannot hash the password: %v", err)
		}
		return h, nil
	default:
		return "", errorf(http.StatusBadRequest, "password or password_hash is required")
	}
}

// listUsers answers GET /v1/tenants/{name}/users, without hashes.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	v, err := s.tenant(r.PathValue("name"))
	if err != nil {
		return err
	}
	out := make([]UserView, 0, len(v.Spec.Auth.Users))
	for _, u := range v.Spec.Auth.Users {
		out = append(out, UserView{Name: u.Name, Credentials: len(u.PasswordHashes)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addUser answers POST /v1/tenants/{name}/users: 201, 409 if the user
// exists.
func (s *Server) addUser(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req credentialRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return errorf(http.StatusBadRequest, "name is required")
	}
	if req.RevokeOld {
		return errorf(http.StatusBadRequest, "revoke_old applies to rotate only")
	}
	hash, err := req.hash()
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	v, err := s.tenant(name)
	if err != nil {
		return err
	}
	if findUser(v.Spec, req.Name) >= 0 {
		return errorf(http.StatusConflict, "user %q already exists in tenant %q; rotate its password instead", req.Name, name)
	}
	u := tenant.User{Name: req.Name, PasswordHashes: []string{hash}}
	spec := v.Spec
	spec.Auth.Users = append(slices.Clone(spec.Auth.Users), u)
	if err := validateSpec(spec); err != nil {
		return err
	}
	if err := s.backend.PutUser(r.Context(), name, u); err != nil {
		return fmt.Errorf("add user %q to tenant %q: %w", req.Name, name, err)
	}
	writeJSON(w, http.StatusCreated, UserView{Name: u.Name, Credentials: 1})
	return nil
}

// rotateUser answers POST /v1/tenants/{name}/users/{user}/rotate: adds a
// hash; with revoke_old the new hash replaces all of them, and revoke_old
// without a password keeps only the newest one (the second step of a
// rotation).
func (s *Server) rotateUser(w http.ResponseWriter, r *http.Request) error {
	name, user := r.PathValue("name"), r.PathValue("user")
	var req credentialRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != user {
		return errorf(http.StatusBadRequest, "user name %q in the body does not match %q in the path", req.Name, user)
	}
	// revoke_old alone finishes a rotation: the newest credential stays.
	finish := req.RevokeOld && req.Password == "" && req.PasswordHash == ""
	var hash string
	if !finish {
		var err error
		if hash, err = req.hash(); err != nil {
			return err
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	v, err := s.tenant(name)
	if err != nil {
		return err
	}
	i := findUser(v.Spec, user)
	if i < 0 {
		return errorf(http.StatusNotFound, "user %q does not exist in tenant %q", user, name)
	}
	old := v.Spec.Auth.Users[i].PasswordHashes
	u := tenant.User{Name: user, PasswordHashes: []string{hash}}
	switch {
	case finish && len(old) < 2:
		return errorf(http.StatusBadRequest, "user %q of tenant %q has one password: nothing to revoke; give a new password to replace it", user, name)
	case finish:
		u.PasswordHashes = []string{old[len(old)-1]}
	case !req.RevokeOld:
		u.PasswordHashes = append(slices.DeleteFunc(slices.Clone(old), func(h string) bool { return h == hash }), hash)
	}
	spec := v.Spec
	spec.Auth.Users = slices.Clone(spec.Auth.Users)
	spec.Auth.Users[i] = u
	if err := validateSpec(spec); err != nil {
		return err
	}
	if err := s.backend.PutUser(r.Context(), name, u); err != nil {
		return fmt.Errorf("rotate user %q of tenant %q: %w", user, name, err)
	}
	writeJSON(w, http.StatusOK, UserView{Name: u.Name, Credentials: len(u.PasswordHashes)})
	return nil
}

// removeUser answers DELETE /v1/tenants/{name}/users/{user}: 204, 404.
func (s *Server) removeUser(w http.ResponseWriter, r *http.Request) error {
	name, user := r.PathValue("name"), r.PathValue("user")
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	v, err := s.tenant(name)
	if err != nil {
		return err
	}
	if findUser(v.Spec, user) < 0 {
		return errorf(http.StatusNotFound, "user %q does not exist in tenant %q", user, name)
	}
	if err := s.backend.RemoveUser(r.Context(), name, user); err != nil {
		return fmt.Errorf("remove user %q of tenant %q: %w", user, name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getACL answers GET /v1/tenants/{name}/acl.
func (s *Server) getACL(w http.ResponseWriter, r *http.Request) error {
	v, err := s.tenant(r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v.Spec.ACL)
	return nil
}

// putACL answers PUT /v1/tenants/{name}/acl: replaces the ACL, 200.
func (s *Server) putACL(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var acl tenant.ACL
	if err := decodeJSON(w, r, &acl); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, ok := s.backend.(ConditionalBackend); !ok {
		if err := s.checkRevision(r, name); err != nil {
			return err
		}
	}
	return s.storeACL(w, r, name, http.StatusOK, func(tenant.ACL) (tenant.ACL, error) { return acl, nil })
}

// ruleRequest is the body of POST /v1/tenants/{name}/acl/rules. Position
// is 0-based; absent appends.
type ruleRequest struct {
	Rule     tenant.Rule `json:"rule"`
	Position *int        `json:"position,omitempty"`
}

// addRule answers POST /v1/tenants/{name}/acl/rules: 201 and the ACL.
func (s *Server) addRule(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	var req ruleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.storeACL(w, r, name, http.StatusCreated, func(acl tenant.ACL) (tenant.ACL, error) {
		pos := len(acl.Rules)
		if req.Position != nil {
			pos = *req.Position
		}
		if pos < 0 || pos > len(acl.Rules) {
			return acl, errorf(http.StatusBadRequest, "position %d is out of range: the ACL has %d rules (0 to %d)",
				pos, len(acl.Rules), len(acl.Rules))
		}
		acl.Rules = slices.Insert(slices.Clone(acl.Rules), pos, req.Rule)
		return acl, nil
	})
}

// removeRule answers DELETE /v1/tenants/{name}/acl/rules/{index}: 200
// and the ACL, 404 when there is no such rule.
func (s *Server) removeRule(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil {
		return errorf(http.StatusBadRequest, "rule index %q is not a number", r.PathValue("index"))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.storeACL(w, r, name, http.StatusOK, func(acl tenant.ACL) (tenant.ACL, error) {
		if index < 0 || index >= len(acl.Rules) {
			return acl, errorf(http.StatusNotFound, "rule %d does not exist: the ACL of tenant %q has %d rules",
				index, name, len(acl.Rules))
		}
		acl.Rules = slices.Delete(slices.Clone(acl.Rules), index, index+1)
		return acl, nil
	})
}

// storeACL applies change to the tenant's ACL, validates the resulting
// spec, writes it and answers the new ACL with status. The caller holds
// s.writeMu.
//
// With a ConditionalBackend the write commits only if the tenant is still
// at the revision the change was computed from (the request's If-Match, or
// else the one just read), so a change committed meanwhile, on this
// leader or a former one, is never undone; without If-Match the change is
// computed again on the newer ACL, up to storeACLAttempts times.
func (s *Server) storeACL(w http.ResponseWriter, r *http.Request, name string, status int,
	change func(tenant.ACL) (tenant.ACL, error)) error {
	for attempt := 1; ; attempt++ {
		v, err := s.tenant(name)
		if err != nil {
			return err
		}
		acl, err := change(v.Spec.ACL)
		if err != nil {
			return err
		}
		spec := v.Spec
		spec.ACL = acl
		if err := validateSpec(spec); err != nil {
			return err
		}
		cb, conditional := s.backend.(ConditionalBackend)
		if !conditional {
			if err := s.backend.PutACL(r.Context(), name, acl); err != nil {
				return fmt.Errorf("store the ACL of tenant %q: %w", name, err)
			}
			writeJSON(w, status, acl)
			return nil
		}
		rev, explicit := ifMatch(r), true
		if rev == "" {
			rev, explicit = Revision(v.Spec), false
		}
		err = cb.PutACLIf(r.Context(), name, acl, rev)
		if errors.Is(err, ErrChanged) && !explicit && attempt < storeACLAttempts {
			continue // changed meanwhile: apply the change to the newer ACL
		}
		if err != nil {
			return fmt.Errorf("store the ACL of tenant %q: %w", name, err)
		}
		writeJSON(w, status, acl)
		return nil
	}
}

// storeACLAttempts bounds how often storeACL computes a change again on a
// tenant that changed meanwhile.
const storeACLAttempts = 5

// findUser is the index of the named user in spec, -1 if absent.
func findUser(spec tenant.Spec, name string) int {
	return slices.IndexFunc(spec.Auth.Users, func(u tenant.User) bool { return u.Name == name })
}
