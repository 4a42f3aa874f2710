package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/jmqx/jmqx/tenant"
)

// CommandType identifies a command in the Raft log. Values are persisted in
// Raft; never renumber them, and leave retired ones in place marked
// Deprecated. A type with FlagIgnorable set may be skipped by a node that
// does not know it; an unknown type without it stops the FSM (see
// StoppedError).
type CommandType uint8

// Command types. Persisted in Raft; never renumber.
const (
	// CmdPutTenant creates or replaces a tenant: payload PutTenant.
	CmdPutTenant CommandType = 1
	// CmdDeleteTenant deletes a tenant and its bound addresses: payload
	// DeleteTenant.
	CmdDeleteTenant CommandType = 2
	// CmdPutUser adds or replaces a tenant's user: payload PutUser.
	CmdPutUser CommandType = 3
	// CmdRemoveUser removes a tenant's user: payload RemoveUser.
	CmdRemoveUser CommandType = 4
	// CmdPutACL replaces a tenant's ACL: payload PutACL.
	CmdPutACL CommandType = 5
	// CmdPutMember adds or replaces a cluster member: payload PutMember.
	CmdPutMember CommandType = 6
	// CmdRemoveMember removes a cluster member and its bound addresses:
	// payload RemoveMember.
	CmdRemoveMember CommandType = 7
	// CmdRecordBound records the listener addresses a node bound for a
	// tenant: payload RecordBound.
	CmdRecordBound CommandType = 8
	// CmdSetDrain sets a member's drain state: payload SetDrain.
	CmdSetDrain CommandType = 9
)

// FlagIgnorable is set on command types that a node may skip when it does
// not know them.
const FlagIgnorable CommandType = 0x80

// Payload versions. Encode writes the lowest version that has every field
// the payload sets, so that a node that knows only version 1 keeps applying
// the commands that need nothing newer. Persisted in Raft.
const (
	// PayloadVersion is version 1, which every payload type has.
	PayloadVersion = 1
	// PayloadVersionCAS is version 2 of PutTenant, DeleteTenant, PutUser,
	// RemoveUser and PutACL: version 1 plus IfRevision.
	PayloadVersionCAS = 2
)

// String returns the command's name, or its number if unknown.
func (t CommandType) String() string {
	switch t {
	case CmdPutTenant:
		return "put-tenant"
	case CmdDeleteTenant:
		return "delete-tenant"
	case CmdPutUser:
		return "put-user"
	case CmdRemoveUser:
		return "remove-user"
	case CmdPutACL:
		return "put-acl"
	case CmdPutMember:
		return "put-member"
	case CmdRemoveMember:
		return "remove-member"
	case CmdRecordBound:
		return "record-bound"
	case CmdSetDrain:
		return "set-drain"
	}
	return fmt.Sprintf("command-%#02x", uint8(t))
}

// Business refusals: the FSM returns these (wrapped with the key) as the
// result of a command it refuses, and Store.Apply returns them.
var (
	// ErrNotFound: the command names a tenant that does not exist.
	ErrNotFound = errors.New("meta: not found")
	// ErrExists: PutTenant with IfAbsent found a different spec, or a join
	// names a voter or an address already in the cluster.
	ErrExists = errors.New("meta: already exists")
	// ErrInvalid: the command, or the spec, member or record it would
	// leave, is invalid. Store.Apply checks this before proposing, with
	// this release's rules; the FSM refuses only what breaks the rules of
	// the command's version.
	ErrInvalid = errors.New("meta: invalid")
	// ErrChanged: a command with IfRevision found the tenant missing or at
	// another revision (*ChangedError).
	ErrChanged = errors.New("meta: changed since read")
)

// ChangedError is the FSM's refusal of a compare-and-set: the tenant is
// not at the revision the command expects (Have is 0 when it does not
// exist). It matches ErrChanged.
type ChangedError struct {
	Tenant string
	Want   uint64 // the command's IfRevision
	Have   uint64 // the tenant's revision when the command was applied
}

// Error describes the conflict.
func (e *ChangedError) Error() string {
	if e.Have == 0 {
		return fmt.Sprintf("meta: tenant %q no longer exists (expected revision %d)", e.Tenant, e.Want)
	}
	return fmt.Sprintf("meta: tenant %q is at revision %d, not %d: changed since read", e.Tenant, e.Have, e.Want)
}

// Is reports whether target is ErrChanged.
func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// PutTenant creates or replaces a tenant with Spec, which must have a
// name. With IfAbsent it refuses (ErrExists) when a different spec of that
// name exists, and succeeds without change when the identical spec does,
// so that a retried create is harmless. With IfRevision (version 2) it
// applies only if the tenant exists at that revision (*ChangedError).
// Store.Apply checks Spec.Validate before proposing it; the FSM does not.
type PutTenant struct {
	V          int         `json:"v"`
	Spec       tenant.Spec `json:"spec"`
	IfAbsent   bool        `json:"if_absent,omitempty"`
	IfRevision uint64      `json:"if_revision,omitempty"`
}

// DeleteTenant deletes the tenant Name and its bound addresses; deleting a
// missing tenant succeeds, unless IfRevision (version 2) is set: then the
// tenant must exist at that revision (*ChangedError).
type DeleteTenant struct {
	V          int    `json:"v"`
	Name       string `json:"name"`
	IfRevision uint64 `json:"if_revision,omitempty"`
}

// PutUser adds User to Tenant, replacing the user of the same name; the
// tenant must exist (ErrNotFound) and, with IfRevision (version 2), be at
// that revision (*ChangedError).
type PutUser struct {
	V          int         `json:"v"`
	Tenant     string      `json:"tenant"`
	User       tenant.User `json:"user"`
	IfRevision uint64      `json:"if_revision,omitempty"`
}

// RemoveUser removes the user Name from Tenant; removing a missing user
// succeeds, a missing tenant is ErrNotFound. IfRevision as in PutUser.
type RemoveUser struct {
	V          int    `json:"v"`
	Tenant     string `json:"tenant"`
	Name       string `json:"name"`
	IfRevision uint64 `json:"if_revision,omitempty"`
}

// PutACL replaces Tenant's ACL; the tenant must exist (ErrNotFound).
// IfRevision as in PutUser.
type PutACL struct {
	V          int        `json:"v"`
	Tenant     string     `json:"tenant"`
	ACL        tenant.ACL `json:"acl"`
	IfRevision uint64     `json:"if_revision,omitempty"`
}

// PutMember adds or replaces the member with Member.ID (required). It
// keeps the drain state of a member it replaces: only SetDrain changes it,
// and Member.Drain must be empty.
type PutMember struct {
	V      int    `json:"v"`
	Member Member `json:"member"`
}

// RemoveMember removes the member ID and every address it bound; removing
// a missing member succeeds.
type RemoveMember struct {
	V  int    `json:"v"`
	ID string `json:"id"`
}

// RecordBound records the addresses ("host:port") node Node bound for
// Tenant's listeners, keyed by listener name ("mqtt", "mqtts", "ws",
// "wss"). It replaces what was recorded for that node and tenant; an empty
// Listeners clears it. The tenant must exist (ErrNotFound).
type RecordBound struct {
	V         int               `json:"v"`
	Tenant    string            `json:"tenant"`
	Node      string            `json:"node"`
	Listeners map[string]string `json:"listeners,omitempty"`
}

// command is implemented by the payload types. stamp returns the
// payload's command type and a copy of it with V set to the lowest version
// that has every field it sets; version returns V; minVersion returns that
// lowest version; check applies this release's validation rules, against
// cur, before the command is proposed (see check.go).
type command interface {
	stamp() (CommandType, any)
	version() int
	minVersion() int
	check(cur *State) error
}

// casVersion is the lowest version of a payload with IfRevision rev.
func casVersion(rev uint64) int {
	if rev != 0 {
		return PayloadVersionCAS
	}
	return PayloadVersion
}

func (p PutTenant) stamp() (CommandType, any)    { p.V = p.minVersion(); return CmdPutTenant, p }
func (p DeleteTenant) stamp() (CommandType, any) { p.V = p.minVersion(); return CmdDeleteTenant, p }
func (p PutUser) stamp() (CommandType, any)      { p.V = p.minVersion(); return CmdPutUser, p }
func (p RemoveUser) stamp() (CommandType, any)   { p.V = p.minVersion(); return CmdRemoveUser, p }
func (p PutACL) stamp() (CommandType, any)       { p.V = p.minVersion(); return CmdPutACL, p }
func (p PutMember) stamp() (CommandType, any)    { p.V = p.minVersion(); return CmdPutMember, p }
func (p RemoveMember) stamp() (CommandType, any) { p.V = p.minVersion(); return CmdRemoveMember, p }
func (p RecordBound) stamp() (CommandType, any)  { p.V = p.minVersion(); return CmdRecordBound, p }

func (p PutTenant) version() int    { return p.V }
func (p DeleteTenant) version() int { return p.V }
func (p PutUser) version() int      { return p.V }
func (p RemoveUser) version() int   { return p.V }
func (p PutACL) version() int       { return p.V }
func (p PutMember) version() int    { return p.V }
func (p RemoveMember) version() int { return p.V }
func (p RecordBound) version() int  { return p.V }

func (p PutTenant) minVersion() int    { return casVersion(p.IfRevision) }
func (p DeleteTenant) minVersion() int { return casVersion(p.IfRevision) }
func (p PutUser) minVersion() int      { return casVersion(p.IfRevision) }
func (p RemoveUser) minVersion() int   { return casVersion(p.IfRevision) }
func (p PutACL) minVersion() int       { return casVersion(p.IfRevision) }
func (PutMember) minVersion() int      { return PayloadVersion }
func (RemoveMember) minVersion() int   { return PayloadVersion }
func (RecordBound) minVersion() int    { return PayloadVersion }

// Encode returns the log entry for a command: the type byte t followed by
// payload as JSON with "v" set to the lowest version that has every field
// payload sets. payload is one of the payload types (or a pointer to one)
// and must match t.
func Encode(t CommandType, payload any) ([]byte, error) {
	c, ok := payload.(command)
	if !ok {
		return nil, fmt.Errorf("meta: encode %s: %T is not a command payload", t, payload)
	}
	if v := reflect.ValueOf(payload); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("meta: encode %s: nil %T", t, payload)
	}
	pt, p := c.stamp()
	if pt != t {
		return nil, fmt.Errorf("meta: encode %s: payload %T is for %s", t, payload, pt)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("meta: encode %s: %w", t, err)
	}
	return append([]byte{byte(t)}, b...), nil
}
