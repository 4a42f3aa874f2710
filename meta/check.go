package meta

import (
	"fmt"
	"net"

	"github.com/jmqx/jmqx/tenant"
)

// check reports why data must not be proposed, with this release's rules:
// the FSM could not apply it (ErrInvalid), or the command fails this
// release's validation against the current state (ErrInvalid), or it
// would be refused anyway (ErrNotFound, ErrChanged, ...). The state may
// change before the command commits; the FSM then decides by the
// command's rules alone. Validation lives here, on the leader, and never in
// Apply, so that a stricter later release never refuses what an earlier
// one committed.
func (f *FSM) check(data []byte) error {
	if err := f.Err(); err != nil {
		return err
	}
	_, p, err := f.decode(data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if p == nil {
		return fmt.Errorf("%w: unknown command type %s", ErrInvalid, CommandType(data[0]))
	}
	cur := f.state.Load()
	return p.check(cur)
}

func (p PutTenant) check(*State) error { return validateSpec(p.Spec) }

func (p DeleteTenant) check(*State) error { return nil }

// check validates the spec the user would leave.
func (p PutUser) check(cur *State) error {
	next, err := applyPutUser(cur, p, 0)
	if err != nil {
		return err
	}
	return validateSpec(next.Tenants[p.Tenant])
}

// check never validates: a removal is never refused for the spec it
// leaves.
func (p RemoveUser) check(*State) error { return nil }

// check validates the spec the ACL would leave.
func (p PutACL) check(cur *State) error {
	next, err := applyPutACL(cur, p, 0)
	if err != nil {
		return err
	}
	return validateSpec(next.Tenants[p.Tenant])
}

func (p PutMember) check(*State) error {
	if p.Member.ID == "" {
		return fmt.Errorf("%w: member without an ID", ErrInvalid)
	}
	if p.Member.Drain != "" {
		return fmt.Errorf("%w: member %q: the drain state is set by set-drain, not put-member", ErrInvalid, p.Member.ID)
	}
	return nil
}

func (p RemoveMember) check(*State) error { return nil }

// check validates the listener names and addresses.
func (p RecordBound) check(*State) error {
	if p.Node == "" {
		return fmt.Errorf("%w: tenant %q: bound addresses without a node", ErrInvalid, p.Tenant)
	}
	for name, addr := range p.Listeners {
		if !validListener(name) {
			return fmt.Errorf("%w: tenant %q node %q: unknown listener %q", ErrInvalid, p.Tenant, p.Node, name)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%w: tenant %q node %q listener %s: %v", ErrInvalid, p.Tenant, p.Node, name, err)
		}
	}
	return nil
}

// validateSpec wraps Spec.Validate's verdict in ErrInvalid.
func validateSpec(spec tenant.Spec) error {
	if spec.Name == "" {
		return fmt.Errorf("%w: tenant without a name", ErrInvalid)
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: tenant %q: %w", ErrInvalid, spec.Name, err)
	}
	return nil
}
