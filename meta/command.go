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
// does not know it; an unknown type without it means this node's state has
// diverged from the leader's.
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
)

// FlagIgnorable is set on command types that a node may skip when it does
// not know them.
const FlagIgnorable CommandType = 0x80

// PayloadVersion is the "v" that Encode writes into every payload and the
// only one the FSM accepts.
const PayloadVersion = 1

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
	}
	return fmt.Sprintf("command-%#02x", uint8(t))
}

// Business refusals: the FSM returns these (wrapped with the key) as the
// result of a command it refuses, and Store.Apply returns them.
var (
	// ErrNotFound: the command names a tenant that does not exist.
	ErrNotFound = errors.New("meta: not found")
	// ErrExists: PutTenant with IfAbsent found a different spec.
	ErrExists = errors.New("meta: already exists")
	// ErrInvalid: the resulting spec, member or record is invalid.
	ErrInvalid = errors.New("meta: invalid")
)

// DivergedError is the panic value of FSM.Apply when a log entry cannot be
// understood: empty, an unknown type without FlagIgnorable, an unsupported
// payload version or a payload that does not decode. Applying it anyway
// would let this node's state silently diverge from the others', so the
// process must stop and be upgraded or repaired.
type DivergedError struct {
	Index uint64      // Raft index of the entry
	Type  CommandType // its type byte (0 if the entry was empty)
	Err   error       // what is wrong with it
}

// Error describes the entry.
func (e *DivergedError) Error() string {
	return fmt.Sprintf("meta: state diverged at raft index %d (%s): %v", e.Index, e.Type, e.Err)
}

// Unwrap returns the cause.
func (e *DivergedError) Unwrap() error { return e.Err }

// PutTenant creates or replaces a tenant with Spec, which must pass
// Spec.Validate. With IfAbsent it refuses (ErrExists) when a different spec
// of that name exists, and succeeds without change when the identical spec
// does, so that a retried create is harmless.
type PutTenant struct {
	V        int         `json:"v"`
	Spec     tenant.Spec `json:"spec"`
	IfAbsent bool        `json:"if_absent,omitempty"`
}

// DeleteTenant deletes the tenant Name and its bound addresses; deleting a
// missing tenant succeeds.
type DeleteTenant struct {
	V    int    `json:"v"`
	Name string `json:"name"`
}

// PutUser adds User to Tenant, replacing the user of the same name; the
// tenant must exist (ErrNotFound).
type PutUser struct {
	V      int         `json:"v"`
	Tenant string      `json:"tenant"`
	User   tenant.User `json:"user"`
}

// RemoveUser removes the user Name from Tenant; removing a missing user
// succeeds, a missing tenant is ErrNotFound.
type RemoveUser struct {
	V      int    `json:"v"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
}

// PutACL replaces Tenant's ACL; the tenant must exist (ErrNotFound).
type PutACL struct {
	V      int        `json:"v"`
	Tenant string     `json:"tenant"`
	ACL    tenant.ACL `json:"acl"`
}

// PutMember adds or replaces the member with Member.ID (required).
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

// command is implemented by the payload types: stamp returns the payload's
// command type and a copy of it with V set to PayloadVersion.
type command interface {
	stamp() (CommandType, any)
}

func (p PutTenant) stamp() (CommandType, any)    { p.V = PayloadVersion; return CmdPutTenant, p }
func (p DeleteTenant) stamp() (CommandType, any) { p.V = PayloadVersion; return CmdDeleteTenant, p }
func (p PutUser) stamp() (CommandType, any)      { p.V = PayloadVersion; return CmdPutUser, p }
func (p RemoveUser) stamp() (CommandType, any)   { p.V = PayloadVersion; return CmdRemoveUser, p }
func (p PutACL) stamp() (CommandType, any)       { p.V = PayloadVersion; return CmdPutACL, p }
func (p PutMember) stamp() (CommandType, any)    { p.V = PayloadVersion; return CmdPutMember, p }
func (p RemoveMember) stamp() (CommandType, any) { p.V = PayloadVersion; return CmdRemoveMember, p }
func (p RecordBound) stamp() (CommandType, any)  { p.V = PayloadVersion; return CmdRecordBound, p }

// Encode returns the log entry for a command: the type byte t followed by
// payload as JSON with "v" set to PayloadVersion. payload is one of the
// payload types (or a pointer to one) and must match t.
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

// decodePayload unmarshals an entry's payload into T, checking its
// version.
func decodePayload[T any](data []byte) (T, error) {
	var head struct {
		V int `json:"v"`
	}
	var p T
	if err := json.Unmarshal(data, &head); err != nil {
		return p, fmt.Errorf("payload: %w", err)
	}
	if head.V != PayloadVersion {
		return p, fmt.Errorf("payload version %d, want %d", head.V, PayloadVersion)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("payload: %w", err)
	}
	return p, nil
}
