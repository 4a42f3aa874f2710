package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/tenant"
)

// FSM is the Raft state machine over State. Raft calls Apply, Snapshot and
// Restore from one goroutine; State and Watch may be called concurrently
// from any goroutine.
type FSM struct {
	log      *zap.Logger
	handlers map[CommandType]handler

	mu    sync.Mutex // serializes Apply and Restore, the writers of state
	state atomic.Pointer[State]

	watchMu  sync.Mutex
	watchers map[uint64]chan struct{}
	nextID   uint64
}

var _ raft.FSM = (*FSM)(nil)

// handler decodes and applies one command type. decode returns the
// payload or why it does not decode; apply returns the next state (a new
// value, never cur itself) or a business refusal.
type handler struct {
	decode func(data []byte) (any, error)
	apply  func(cur *State, payload any) (*State, error)
}

// handlerFor builds the handler of a payload type T.
func handlerFor[T any](apply func(cur *State, p T) (*State, error)) handler {
	return handler{
		decode: func(data []byte) (any, error) { return decodePayload[T](data) },
		apply:  func(cur *State, p any) (*State, error) { return apply(cur, p.(T)) },
	}
}

// NewFSM returns an FSM holding an empty State. log may be nil.
func NewFSM(log *zap.Logger) *FSM {
	if log == nil {
		log = zap.NewNop()
	}
	f := &FSM{
		log: log,
		handlers: map[CommandType]handler{
			CmdPutTenant:    handlerFor(applyPutTenant),
			CmdDeleteTenant: handlerFor(applyDeleteTenant),
			CmdPutUser:      handlerFor(applyPutUser),
			CmdRemoveUser:   handlerFor(applyRemoveUser),
			CmdPutACL:       handlerFor(applyPutACL),
			CmdPutMember:    handlerFor(applyPutMember),
			CmdRemoveMember: handlerFor(applyRemoveMember),
			CmdRecordBound:  handlerFor(applyRecordBound),
		},
		watchers: map[uint64]chan struct{}{},
	}
	f.state.Store(emptyState())
	return f
}

// State returns the current state. It does not block on Apply and the
// result never changes; see State for the rules on reading it.
func (f *FSM) State() State { return *f.state.Load() }

// Watch returns a channel that receives a value after every applied change
// and after every Restore, and a function that unregisters it. Signals
// coalesce (the channel has a buffer of one and is never blocked on), so a
// consumer re-reads State and reconciles fully on each one. The channel is
// not closed by cancel.
func (f *FSM) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.watchMu.Lock()
	id := f.nextID
	f.nextID++
	f.watchers[id] = ch
	f.watchMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.watchMu.Lock()
			delete(f.watchers, id)
			f.watchMu.Unlock()
		})
	}
}

// Apply applies one Raft log entry. It returns nil when the command was
// applied (or ignored: an unknown type with FlagIgnorable), or an error
// wrapping ErrNotFound, ErrExists or ErrInvalid when a business rule
// refuses it, leaving State unchanged. It panics with a *DivergedError when
// the entry cannot be understood. Apply reads no clock, uses no randomness
// and never depends on map order.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	if len(l.Data) == 0 {
		panic(&DivergedError{Index: l.Index, Err: fmt.Errorf("empty entry")})
	}
	t := CommandType(l.Data[0])
	h, ok := f.handlers[t]
	if !ok {
		if t&FlagIgnorable != 0 {
			f.log.Debug("ignoring unknown command", zap.Stringer("type", t), zap.Uint64("index", l.Index))
			return nil
		}
		panic(&DivergedError{Index: l.Index, Type: t, Err: fmt.Errorf("unknown command type")})
	}
	payload, err := h.decode(l.Data[1:])
	if err != nil {
		panic(&DivergedError{Index: l.Index, Type: t, Err: err})
	}

	f.mu.Lock()
	next, err := h.apply(f.state.Load(), payload)
	if err != nil {
		f.mu.Unlock()
		f.log.Debug("command refused", zap.Stringer("type", t), zap.Uint64("index", l.Index), zap.Error(err))
		return err
	}
	next.Index = l.Index
	f.state.Store(next)
	f.mu.Unlock()
	f.notify()
	return nil
}

// checkEntry reports why the FSM would refuse to decode data (it would
// panic with a *DivergedError), so that Store.Apply never proposes such an
// entry.
func (f *FSM) checkEntry(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty command", ErrInvalid)
	}
	t := CommandType(data[0])
	h, ok := f.handlers[t]
	if !ok {
		return fmt.Errorf("%w: unknown command type %s", ErrInvalid, t)
	}
	if _, err := h.decode(data[1:]); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, t, err)
	}
	return nil
}

// notify signals every watcher without blocking.
func (f *FSM) notify() {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for _, ch := range f.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// clone returns a shallow copy of s: its maps are shared until replaced.
func (s *State) clone() *State {
	c := *s
	return &c
}

// applyPutTenant creates or replaces a tenant.
func applyPutTenant(cur *State, p PutTenant) (*State, error) {
	spec := p.Spec
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	if old, ok := cur.Tenants[spec.Name]; ok && p.IfAbsent {
		if !sameSpec(old, spec) {
			return nil, fmt.Errorf("%w: tenant %q with a different spec", ErrExists, spec.Name)
		}
		return cur.clone(), nil
	}
	return putSpec(cur, spec), nil
}

// applyDeleteTenant deletes a tenant and its bound addresses.
func applyDeleteTenant(cur *State, p DeleteTenant) (*State, error) {
	next := cur.clone()
	if _, ok := cur.Tenants[p.Name]; ok {
		next.Tenants = maps.Clone(cur.Tenants)
		delete(next.Tenants, p.Name)
	}
	if _, ok := cur.Bound[p.Name]; ok {
		next.Bound = maps.Clone(cur.Bound)
		delete(next.Bound, p.Name)
	}
	return next, nil
}

// applyPutUser adds or replaces a user of a tenant.
func applyPutUser(cur *State, p PutUser) (*State, error) {
	spec, ok := cur.Tenants[p.Tenant]
	if !ok {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, p.Tenant)
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
	return withSpec(cur, spec)
}

// applyRemoveUser removes a user of a tenant.
func applyRemoveUser(cur *State, p RemoveUser) (*State, error) {
	spec, ok := cur.Tenants[p.Tenant]
	if !ok {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, p.Tenant)
	}
	i := slices.IndexFunc(spec.Auth.Users, func(u tenant.User) bool { return u.Name == p.Name })
	if i < 0 {
		return cur.clone(), nil
	}
	spec.Auth.Users = slices.Delete(slices.Clone(spec.Auth.Users), i, i+1)
	if len(spec.Auth.Users) == 0 {
		spec.Auth.Users = nil // as after a JSON round trip
	}
	return putSpec(cur, spec), nil // a removal is never refused: no validation
}

// applyPutACL replaces a tenant's ACL.
func applyPutACL(cur *State, p PutACL) (*State, error) {
	spec, ok := cur.Tenants[p.Tenant]
	if !ok {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, p.Tenant)
	}
	spec.ACL = p.ACL
	return withSpec(cur, spec)
}

// applyPutMember adds or replaces a member.
func applyPutMember(cur *State, p PutMember) (*State, error) {
	if p.Member.ID == "" {
		return nil, fmt.Errorf("%w: member without an ID", ErrInvalid)
	}
	next := cur.clone()
	next.Members = maps.Clone(cur.Members)
	next.Members[p.Member.ID] = p.Member
	return next, nil
}

// applyRemoveMember removes a member and the addresses it bound.
func applyRemoveMember(cur *State, p RemoveMember) (*State, error) {
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
func applyRecordBound(cur *State, p RecordBound) (*State, error) {
	if _, ok := cur.Tenants[p.Tenant]; !ok {
		return nil, fmt.Errorf("%w: tenant %q", ErrNotFound, p.Tenant)
	}
	if p.Node == "" {
		return nil, fmt.Errorf("%w: tenant %q: bound addresses without a node", ErrInvalid, p.Tenant)
	}
	for name, addr := range p.Listeners {
		if !validListener(name) {
			return nil, fmt.Errorf("%w: tenant %q node %q: unknown listener %q", ErrInvalid, p.Tenant, p.Node, name)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: tenant %q node %q listener %s: %v", ErrInvalid, p.Tenant, p.Node, name, err)
		}
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

// withSpec returns cur with the tenant spec.Name replaced by spec, after
// validating it.
func withSpec(cur *State, spec tenant.Spec) (*State, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	return putSpec(cur, spec), nil
}

// putSpec returns cur with spec stored under its name (copy-on-write).
func putSpec(cur *State, spec tenant.Spec) *State {
	next := cur.clone()
	next.Tenants = maps.Clone(cur.Tenants)
	next.Tenants[spec.Name] = spec
	return next
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

// sameSpec reports whether a and b are the same spec, comparing their JSON
// encodings (deterministic, and blind to nil versus empty slices that
// the encoding omits).
func sameSpec(a, b tenant.Spec) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
