package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/jmqx/jmqx/tenant"
)

// The apply functions: each returns the next state (copy-on-write) or a
// refusal. They enforce only the rules of their command's versions, which
// are fixed once released: a name is required, the tenant must exist, the
// revision must match. Everything else (Spec.Validate, listener names,
// addresses) is this release's validation, run before proposing (check.go),
// never here: a later release may validate more strictly, and must still
// apply what an earlier one committed.

// applyPutTenant creates or replaces a tenant.
func applyPutTenant(cur *State, p PutTenant, index uint64) (*State, error) {
	spec := p.Spec
	if spec.Name == "" {
		return nil, fmt.Errorf("%w: tenant without a name", ErrInvalid)
	}
	if err := checkRevision(cur, spec.Name, p.IfRevision); err != nil {
		return nil, err
	}
	if old, ok := cur.Tenants[spec.Name]; ok && p.IfAbsent {
		if !sameSpec(old, spec) {
			return nil, fmt.Errorf("%w: tenant %q with a different spec", ErrExists, spec.Name)
		}
		return cur.clone(), nil
	}
	return putSpec(cur, spec, index), nil
}

// applyDeleteTenant deletes a tenant and its bound addresses.
func applyDeleteTenant(cur *State, p DeleteTenant, _ uint64) (*State, error) {
	if err := checkRevision(cur, p.Name, p.IfRevision); err != nil {
		return nil, err
	}
	next := cur.clone()
	if _, ok := cur.Tenants[p.Name]; ok {
		next.Tenants = maps.Clone(cur.Tenants)
		delete(next.Tenants, p.Name)
		next.Revisions = maps.Clone(cur.Revisions)
		delete(next.Revisions, p.Name)
	}
	if _, ok := cur.Bound[p.Name]; ok {
		next.Bound = maps.Clone(cur.Bound)
		delete(next.Bound, p.Name)
	}
	return next, nil
}

// applyPutUser adds or replaces a user of a tenant.
func applyPutUser(cur *State, p PutUser, index uint64) (*State, error) {
	spec, err := existing(cur, p.Tenant, p.IfRevision)
	if err != nil {
		return nil, err
	}
	if p.User.Name == "" {
		return nil, fmt.Errorf("%w: tenant %q: user without a name", ErrInvalid, p.Tenant)
	}
	users := slices.Clone(spec.Auth.Users)
	if i := slices.IndexFunc(users, func(u tenant.User) bool { return u.Name == p.User.Name }); i >= 0 {
		users[i] = p.User
	} else {
		users = append(users, p.User)
	}
	spec.Auth.Users = users
	return putSpec(cur, spec, index), nil
}

// applyRemoveUser removes a user of a tenant.
func applyRemoveUser(cur *State, p RemoveUser, index uint64) (*State, error) {
	spec, err := existing(cur, p.Tenant, p.IfRevision)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(spec.Auth.Users, func(u tenant.User) bool { return u.Name == p.Name })
	if i < 0 {
		return cur.clone(), nil
	}
	spec.Auth.Users = slices.Delete(slices.Clone(spec.Auth.Users), i, i+1)
	if len(spec.Auth.Users) == 0 {
		spec.Auth.Users = nil // as after a JSON round trip
	}
	return putSpec(cur, spec, index), nil
}

// applyPutACL replaces a tenant's ACL.
func applyPutACL(cur *State, p PutACL, index uint64) (*State, error) {
	spec, err := existing(cur, p.Tenant, p.IfRevision)
	if err != nil {
		return nil, err
	}
	spec.ACL = p.ACL
	return putSpec(cur, spec, index), nil
}

// applyPutMember adds or replaces a member.
func applyPutMember(cur *State, p PutMember, _ uint64) (*State, error) {
	if p.Member.ID == "" {
		return nil, fmt.Errorf("%w: member without an ID", ErrInvalid)
	}
	m := p.Member
	m.Drain = cur.Members[m.ID].Drain // SetDrain's alone
	next := cur.clone()
	next.Members = maps.Clone(cur.Members)
	next.Members[m.ID] = m
	return next, nil
}

// applyRemoveMember removes a member and the addresses it bound.
func applyRemoveMember(cur *State, p RemoveMember, _ uint64) (*State, error) {
	next := cur.clone()
	if _, ok := cur.Members[p.ID]; ok {
		next.Members = maps.Clone(cur.Members)
		delete(next.Members, p.ID)
	}
	copied := false
	for name, nodes := range cur.Bound {
		if _, ok := nodes[p.ID]; !ok {
			continue
		}
		if !copied {
			next.Bound, copied = maps.Clone(cur.Bound), true
		}
		rest := maps.Clone(nodes)
		delete(rest, p.ID)
		if len(rest) == 0 {
			delete(next.Bound, name)
		} else {
			next.Bound[name] = rest
		}
	}
	return next, nil
}

// applyRecordBound records the addresses a node bound for a tenant.
func applyRecordBound(cur *State, p RecordBound, _ uint64) (*State, error) {
	if _, ok := cur.Tenants[p.Tenant]; !ok {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, p.Tenant)
	}
	if p.Node == "" {
		return nil, fmt.Errorf("%w: tenant %q: bound addresses without a node", ErrInvalid, p.Tenant)
	}
	next := cur.clone()
	next.Bound = maps.Clone(cur.Bound)
	nodes := maps.Clone(cur.Bound[p.Tenant])
	if nodes == nil {
		nodes = map[string]map[string]string{}
	}
	if len(p.Listeners) == 0 {
		delete(nodes, p.Node)
	} else {
		nodes[p.Node] = maps.Clone(p.Listeners)
	}
	if len(nodes) == 0 {
		delete(next.Bound, p.Tenant)
	} else {
		next.Bound[p.Tenant] = nodes
	}
	return next, nil
}

// existing returns the spec of the tenant name, which must exist
// (ErrNotFound) and, if rev is not 0, be at revision rev.
func existing(cur *State, name string, rev uint64) (tenant.Spec, error) {
	if err := checkRevision(cur, name, rev); err != nil {
		return tenant.Spec{}, err
	}
	spec, ok := cur.Tenants[name]
	if !ok {
		return tenant.Spec{}, fmt.Errorf("%w: tenant %q", ErrNotFound, name)
	}
	return spec, nil
}

// checkRevision refuses with a *ChangedError when rev is not 0 and the
// tenant name is not at revision rev (or does not exist).
func checkRevision(cur *State, name string, rev uint64) error {
	if rev == 0 {
		return nil
	}
	have := cur.Revisions[name]
	if _, ok := cur.Tenants[name]; !ok {
		have = 0
	}
	if have != rev {
		return &ChangedError{Tenant: name, Want: rev, Have: have}
	}
	return nil
}

// clone returns a shallow copy of s: its maps are shared until replaced.
func (s *State) clone() *State {
	c := *s
	return &c
}

// putSpec returns cur with spec stored under its name at revision index
// (copy-on-write).
func putSpec(cur *State, spec tenant.Spec, index uint64) *State {
	next := cur.clone()
	next.Tenants = maps.Clone(cur.Tenants)
	next.Revisions = maps.Clone(cur.Revisions)
	if next.Tenants == nil || next.Revisions == nil { // a zero State
		next.Tenants, next.Revisions = map[string]tenant.Spec{}, map[string]uint64{}
	}
	next.Tenants[spec.Name] = spec
	next.Revisions[spec.Name] = index
	return next
}

// sameSpec reports whether a and b are the same spec, comparing their JSON
// encodings (deterministic, and blind to nil versus empty slices that
// the encoding omits).
func sameSpec(a, b tenant.Spec) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
